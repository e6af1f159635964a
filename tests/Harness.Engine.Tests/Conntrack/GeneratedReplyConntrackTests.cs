using Harness.Engine.Conntrack;
using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// Conntrack and NAT of the packets the host generates (REJECT's RST and ICMP errors), and the ICMP echo id NAT keeps,
/// as the kernel oracle measured them (once listed in known-differences.md as reject-reply-conntrack,
/// related-reply-nat-postrouting, icmp-echo-nat-id): nf_ct_attach, nf_nat_ipv4_fn / nf_nat_inet_fn, find_appropriate_src.
/// </summary>
public class GeneratedReplyConntrackTests
{
    private static Engine Router(string rules) =>
        Engine.Create(TestRules.Load(rules), null, TestHosts.Router(), EngineOptions.Default);

    private static string[] Path(Outcome o) => [.. o.Path.Select(s => s.ToString())];

    [Fact]
    public void A_reset_answering_a_packet_without_entry_is_tracked_in_output_and_is_invalid()
    {
        var engine = Router("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A POSTROUTING -o eth0 -j MASQUERADE
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p tcp -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset
            COMMIT
            """);
        // SYN+FIN is an invalid flag combination: conntrack calls it INVALID before any lookup, so it has no entry.
        var outcomes = engine.Process(Wire.Tcp("198.51.100.7", 4000, "203.0.113.1", 22, TcpFlags.Syn | TcpFlags.Fin, "eth0"));
        Assert.Equal(2, outcomes.Count);
        Assert.Equal(("INVALID", Disposition.Rejected), (outcomes[0].Conntrack?.StateSeen, outcomes[0].Disposition));
        var rst = outcomes[1];
        Assert.True(rst.Generated);
        Assert.IsType<TcpHeader>(rst.Packet.Transport);
        // nf_ct_attach had nothing to attach: the RST went through conntrack in OUTPUT (a RST opens nothing: INVALID).
        Assert.Equal("INVALID", rst.Conntrack?.StateSeen);
        Assert.Null(rst.Conntrack?.Original);
        Assert.DoesNotContain(Path(rst), s => s.StartsWith("POSTROUTING:nat", StringComparison.Ordinal));
        Assert.Equal(Disposition.Sent, rst.Disposition);
    }

    [Fact]
    public void A_reset_answering_an_untracked_packet_is_tracked_even_when_raw_output_says_notrack()
    {
        var engine = Router("""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p tcp --dport 23 -j NOTRACK
            -A OUTPUT -p tcp -j NOTRACK
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset
            COMMIT
            """);
        var outcomes = engine.Process(Wire.Tcp("198.51.100.7", 4000, "203.0.113.1", 23, TcpFlags.Syn, "eth0"));
        Assert.Equal("UNTRACKED", outcomes[0].Conntrack?.StateSeen);
        // The reply's skb->_nfct is set (RELATED without an entry), so raw's NOTRACK does nothing and conntrack runs.
        var rst = Assert.Single(outcomes, o => o.Generated);
        Assert.Contains("OUTPUT:raw:OUTPUT:1", Path(rst));
        Assert.Equal("INVALID", rst.Conntrack?.StateSeen);
    }

    [Fact]
    public void An_icmp_error_answering_an_invalid_packet_is_related_to_the_entry_it_quotes_and_translated_by_it()
    {
        var engine = Router("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A POSTROUTING -o eth0 -j MASQUERADE
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m conntrack --ctstate INVALID -j REJECT --reject-with icmp-port-unreachable
            COMMIT
            """);
        // The LAN host opens 192.168.1.50:40000 -> 198.51.100.7:80, masqueraded to 203.0.113.1:40000.
        var opened = engine.Process(Wire.Tcp("192.168.1.50", 40000, "198.51.100.7", 80, TcpFlags.Syn, "eth1", number: 1, time: 1))[0];
        Assert.Equal((Disposition.Forwarded, "203.0.113.1"), (opened.Disposition, opened.Packet.Ip!.Source.ToString()));
        // 198.51.100.7:80 -> 192.168.1.50:40000 with SYN+FIN: INVALID (no entry), forwarded to the LAN and rejected.
        var outcomes = engine.Process(Wire.Tcp("198.51.100.7", 80, "192.168.1.50", 40000, TcpFlags.Syn | TcpFlags.Fin, "eth0", number: 2, time: 2));
        Assert.Equal(("INVALID", Disposition.Rejected), (outcomes[0].Conntrack?.StateSeen, outcomes[0].Disposition));
        var error = Assert.Single(outcomes, o => o.Generated);
        // The quoted packet, inverted, is the entry's original tuple: RELATED (icmp_error_message), then the entry's
        // SNAT translates the quoted packet (its destination becomes the masqueraded address) without a nat walk.
        Assert.Equal("RELATED", error.Conntrack?.StateSeen);
        Assert.Equal(A("192.168.1.50"), error.Conntrack?.Original?.Source);
        var icmp = Assert.IsType<IcmpHeader>(error.Packet.Transport);
        Assert.Equal(A("203.0.113.1"), icmp.Quoted!.Ip.Destination);
        Assert.Equal(A("198.51.100.7"), error.Packet.Ip!.Destination);
        Assert.DoesNotContain(Path(error), s => s.StartsWith("POSTROUTING:nat", StringComparison.Ordinal));
    }

    private const string PortForwardRejected = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -i eth0 -p tcp --dport 80 -j DNAT --to-destination 192.168.1.10:8080
        -A POSTROUTING -o eth0 -j MASQUERADE
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p tcp -j REJECT --reject-with {0}
        COMMIT
        """;

    [Fact]
    public void A_reset_related_to_an_unconfirmed_connection_walks_nat_postrouting()
    {
        var engine = Router(PortForwardRejected.Replace("{0}", "tcp-reset", StringComparison.Ordinal));
        var outcomes = engine.Process(Wire.Tcp("198.51.100.7", 4000, "203.0.113.1", 80, TcpFlags.Syn, "eth0"));
        Assert.Equal(Disposition.Rejected, outcomes[0].Disposition);
        var rst = Assert.Single(outcomes, o => o.Generated);
        Assert.Equal("RELATED", rst.Conntrack?.StateSeen);
        // The connection was dropped before POSTROUTING: its source binding is not set up, so nf_nat_inet_fn walks
        // the nat POSTROUTING chain for the RST (MASQUERADE binds the connection; the RST is de-DNATed as before).
        var path = Path(rst);
        Assert.Contains("POSTROUTING:nat:POSTROUTING:1", path);
        Assert.True(Array.IndexOf(path, "POSTROUTING:nat:POSTROUTING") > Array.IndexOf(path, "POSTROUTING:mangle:POSTROUTING"));
        Assert.DoesNotContain(path, s => s.StartsWith("OUTPUT:nat", StringComparison.Ordinal)); // DNAT already bound
        Assert.Equal((A("203.0.113.1"), A("198.51.100.7")), (rst.Packet.Ip!.Source, rst.Packet.Ip.Destination));
        Assert.Equal(80, ((TcpHeader)rst.Packet.Transport!).SourcePort);
        Assert.Equal(Disposition.Sent, rst.Disposition);
        Assert.Empty(engine.Conntrack.Entries); // nothing was confirmed
    }

    [Fact]
    public void An_icmp_error_related_to_an_unconfirmed_connection_is_only_translated()
    {
        var engine = Router(PortForwardRejected.Replace("{0}", "icmp-port-unreachable", StringComparison.Ordinal));
        var outcomes = engine.Process(Wire.Tcp("198.51.100.7", 4000, "203.0.113.1", 80, TcpFlags.Syn, "eth0"));
        var error = Assert.Single(outcomes, o => o.Generated);
        Assert.Equal("RELATED", error.Conntrack?.StateSeen);
        // nf_nat_ipv4_fn hands RELATED ICMP to nf_nat_icmp_reply_translation and returns: no nat chain is walked.
        Assert.DoesNotContain(Path(error), s => s.Contains(":nat:", StringComparison.Ordinal));
        var icmp = Assert.IsType<IcmpHeader>(error.Packet.Transport);
        Assert.Equal(A("203.0.113.1"), icmp.Quoted!.Ip.Destination); // the quoted packet is un-DNATed
    }

    [Fact]
    public void Echo_flows_with_one_id_to_two_destinations_keep_the_id_through_the_same_snat_address()
    {
        var table = Table();
        var range = new NatRange(A("10.0.0.1"), A("10.0.0.1"), null, null);
        ushort Snat(double t, string src, string dst)
        {
            var p = Echo(t, src, dst, request: true, id: 40003);
            var ct = table.Process(p, Hook.Prerouting);
            Assert.True(table.NeedsNat(ct, NatManipType.Source));
            table.SetupNat(ct, NatManipType.Source, range);
            var outPacket = table.ApplyNat(ct, p, NatManipType.Source);
            Assert.True(table.Confirm(ct, outPacket));
            Assert.Equal(A("10.0.0.1"), outPacket.Ip!.Source);
            return ((IcmpHeader)outPacket.Transport!).Identifier;
        }
        Assert.Equal(40003, Snat(0, "10.1.0.2", "10.2.0.1"));
        // Same source and id: find_appropriate_src reuses the first mapping (id included); the tuple differs by
        // destination, so it is free and the id stays.
        Assert.Equal(40003, Snat(1, "10.1.0.2", "10.2.0.2"));
        // Another host, same id, same destination: 10.0.0.1 id 40003 -> 10.2.0.1 is taken, the id must move.
        Assert.NotEqual(40003, Snat(2, "10.1.0.3", "10.2.0.1"));
        // The second flow's echo reply finds its entry and is translated back with the id kept.
        var reply = Echo(3, "10.2.0.2", "10.0.0.1", request: false, id: 40003);
        var rct = table.Process(reply, Hook.Prerouting);
        Assert.Equal(CtState.Established, rct.State);
        var back = table.ApplyNat(rct, reply, NatManipType.Destination);
        Assert.Equal((A("10.1.0.2"), (ushort)40003), (back.Ip!.Destination, ((IcmpHeader)back.Transport!).Identifier));
    }
}
