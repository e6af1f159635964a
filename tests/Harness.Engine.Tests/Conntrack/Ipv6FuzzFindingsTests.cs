using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// Engine bugs the IPv6 differential fuzz found (DifferentialFuzzTests, checked against kernel 6.18 in namespaces; all
/// hold for IPv4 as well): REJECT sends no ICMP error about a packet whose transport checksum is wrong
/// (nf_send_unreach / nf_send_unreach6 verify it); an ICMP error about the host's own RST, which is attached to the
/// rejected packet's entry in the original direction, confirms that entry (__nf_conntrack_confirm); and a tcp-reset
/// REJECT moves the confirmed entry of the packet it answers to CLOSE with the CLOSE timeout (nf_ct_set_closing); NAT
/// binds nothing on a confirmed entry (nf_nat_setup_info), so a later RST for it walks the nat chain again.
/// </summary>
public class Ipv6FuzzFindingsTests
{
    private static Engine Router(string rules, Family family) => family == Family.IPv4
        ? Engine.Create(TestRules.Load(rules), null, TestHosts.Router(), EngineOptions.Default)
        : Engine.Create(null, TestRules.Load(rules, Family.IPv6), TestHosts.Router(), EngineOptions.Default);

    private const string Filter = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        {0}
        COMMIT
        """;

    private static Packet Corrupt(Packet p, int transportOffset)
    {
        var bytes = p.Raw.ToArray();
        bytes[p.Ip!.HeaderLength + transportOffset] ^= 0x5A;
        return PacketDecoder.Decode(bytes, p.Number, p.Time, p.Interface);
    }

    [Theory]
    [InlineData("2001:db8:2::7", "2001:db8:1::9", "-j REJECT --reject-with icmp6-no-route")]
    [InlineData("192.168.1.7", "203.0.113.9", "-j REJECT")]
    public void Reject_sends_no_icmp_error_about_a_tcp_segment_with_a_bad_checksum(string src, string dst, string target)
    {
        var family = Address.Parse(src).Family;
        var engine = Router(string.Format(System.Globalization.CultureInfo.InvariantCulture, Filter, "-A FORWARD -p tcp " + target), family);
        var bad = Corrupt(Wire.Tcp(src, 40000, dst, 80, TcpFlags.Ack | TcpFlags.Psh, "eth1", payload: 10), 16);
        Assert.False(bad.Transport!.ChecksumValid);
        var outcomes = engine.Process(bad);
        var only = Assert.Single(outcomes);
        Assert.Equal(Disposition.Rejected, only.Disposition);

        // The same segment with its checksum intact is answered.
        var good = Wire.Tcp(src, 40000, dst, 80, TcpFlags.Ack | TcpFlags.Psh, "eth1", number: 2, time: 2, payload: 10);
        var answered = engine.Process(good);
        Assert.Equal(2, answered.Count);
        Assert.IsType<IcmpHeader>(answered[1].Packet.Transport);
    }

    [Theory]
    [InlineData("2001:db8:2::7", "2001:db8:1::9")]
    [InlineData("192.168.1.7", "203.0.113.9")]
    public void An_icmp_error_about_the_hosts_own_reset_confirms_the_rejected_syns_entry(string src, string dst)
    {
        var family = Address.Parse(src).Family;
        var engine = Router(string.Format(System.Globalization.CultureInfo.InvariantCulture, Filter,
            "-A OUTPUT -p tcp -j REJECT\n-A FORWARD -p tcp --tcp-flags FIN,SYN,RST,ACK SYN -j REJECT --reject-with tcp-reset"), family);
        var syn = engine.Process(Wire.Tcp(src, 40000, dst, 22, TcpFlags.Syn, "eth1"));
        // The SYN is rejected with a RST, the RST is rejected in OUTPUT with an ICMP error, and that error leaves.
        Assert.Equal(3, syn.Count);
        Assert.Equal(Disposition.Rejected, syn[1].Disposition);
        Assert.Equal("RELATED", syn[2].Conntrack?.StateSeen);
        Assert.Equal(Disposition.Sent, syn[2].Disposition);

        // The kernel keeps the SYN's entry (SYN_SENT, unreplied): the client's next ACK meets it and is INVALID.
        var ack = engine.Process(Wire.Tcp(src, 40000, dst, 22, TcpFlags.Ack, "eth1", number: 2, time: 1.001));
        Assert.Equal("INVALID", ack[0].Conntrack?.StateSeen);
        var entry = Assert.Single(engine.Conntrack.Entries);
        Assert.Equal(Harness.Engine.Conntrack.TcpConntrackState.SynSent, entry.TcpState);
    }

    [Theory]
    [InlineData("2001:db8:1::9", "2001:db8:2::7")]
    [InlineData("203.0.113.9", "192.168.1.7")]
    public void A_tcp_reset_reject_closes_the_confirmed_entry_of_the_packet_it_answers(string server, string client)
    {
        var family = Address.Parse(server).Family;
        var engine = Router(string.Format(System.Globalization.CultureInfo.InvariantCulture, Filter,
            "-A FORWARD -i eth1 -p tcp -j REJECT --reject-with tcp-reset"), family);
        // Data from the server side, picked up mid-stream and forwarded: a confirmed entry, ESTABLISHED, unreplied.
        var data = engine.Process(Wire.Tcp(server, 22, client, 40000, TcpFlags.Ack | TcpFlags.Psh, "eth0", payload: 10));
        Assert.Equal(Disposition.Forwarded, data[0].Disposition);
        var entry = Assert.Single(engine.Conntrack.Entries);
        Assert.Equal(Harness.Engine.Conntrack.TcpConntrackState.Established, entry.TcpState);

        // The client's answer is rejected with a RST: the kernel's entry is now CLOSE, ten seconds left.
        var ack = engine.Process(Wire.Tcp(client, 40000, server, 22, TcpFlags.Ack, "eth1", number: 2, time: 2));
        Assert.Equal(2, ack.Count);
        Assert.Equal(Disposition.Rejected, ack[0].Disposition);
        Assert.Equal("CLOSE", ack[0].Conntrack?.TcpStateAfter);
        Assert.Equal("CLOSE", ack[1].Conntrack?.TcpStateAfter);
        Assert.Equal(Harness.Engine.Conntrack.TcpConntrackState.Close, entry.TcpState);
        Assert.Equal(10, entry.SecondsLeft(Timestamp.FromSeconds(2)));

        // Ten seconds later the closed entry has left the table (not at the five days it was queued under before).
        engine.Process(Wire.Tcp(client, 40001, server, 23, TcpFlags.Syn, "eth0", number: 3, time: 12.5));
        Assert.DoesNotContain(entry, engine.Conntrack.Entries);
    }

    [Fact]
    public void Nat_binds_nothing_on_an_entry_an_icmp_error_confirmed_so_each_reset_walks_postrouting_nat()
    {
        var engine = Engine.Create(null, TestRules.Load("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A OUTPUT -p tcp -o eth0 --dport 22 -j REJECT --reject-with icmp6-adm-prohibited
            -A FORWARD -p tcp -j REJECT --reject-with tcp-reset
            COMMIT
            """, Family.IPv6), TestHosts.Router(), EngineOptions.Default);
        // Server data (rejected; its RST to the server is rejected in OUTPUT; that ICMP error confirms the entry).
        var first = engine.Process(Wire.Tcp("2001:db8:1::9", 22, "2001:db8:1::7", 40001, TcpFlags.Ack | TcpFlags.Psh, "eth0", payload: 10));
        Assert.Equal(3, first.Count);
        Assert.True(Assert.Single(engine.Conntrack.Entries).IsConfirmed);
        // Two client packets, each rejected with a RST that leaves: both RSTs walk nat POSTROUTING.
        for (int i = 2; i <= 3; i++)
        {
            var answer = engine.Process(Wire.Tcp("2001:db8:1::7", 40001, "2001:db8:1::9", 22, TcpFlags.Ack, "eth0", number: i, time: i));
            Assert.Equal(2, answer.Count);
            Assert.Equal(Disposition.Sent, answer[1].Disposition);
            Assert.Contains("POSTROUTING:nat:POSTROUTING:policy", answer[1].Path.Select(p => p.ToString()));
        }
    }
}
