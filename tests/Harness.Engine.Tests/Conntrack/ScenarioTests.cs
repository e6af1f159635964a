using Harness.Engine.Conntrack;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The scenarios of issue 5 at the conntrack API level. Expectations were checked against the kernel (6.18) as noted
/// per test; see KernelChecks in this folder for the ones replayed in a namespace.
/// </summary>
public class ScenarioTests
{
    private const TcpFlags Syn = TcpFlags.Syn, Ack = TcpFlags.Ack, SynAck = TcpFlags.Syn | TcpFlags.Ack,
        Fin = TcpFlags.Fin | TcpFlags.Ack, PshAck = TcpFlags.Psh | TcpFlags.Ack;

    // Client on the internet, firewall 203.0.113.1 (wan) / 10.0.0.1 (lan), web server 10.0.0.2:8080 behind it.
    private const string Client = "198.51.100.7", Public = "203.0.113.1", FwLan = "10.0.0.1", Server = "10.0.0.2";

    private static Router PortForwarder()
    {
        var lan = Router.Interface("eth1", "10.0.0.1/24");
        return new Router(Table())
        {
            Dnat = p => p.Ip!.Destination == A(Public) && Ports(p).Dst == 80 ? Router.To(Server, 8080) : null,
            Snat = p => p.Ip!.Destination == A(Server)
                ? NatTargets.Masquerade(new NatRange(null, null, null, null), lan, Family.IPv4, p.Ip.Destination)
                : null,
        };
    }

    [Fact]
    public void Full_TCP_session_through_DNAT_and_MASQUERADE_rewrites_every_packet_both_ways()
    {
        var fw = PortForwarder();
        var steps = new (Packet In, string Out, CtState State, TcpConntrackState Tcp)[]
        {
            (Tcp(0.000, Client, 40000, Public, 80, Syn, 100, 0), $"{FwLan}:40000>{Server}:8080", CtState.New, TcpConntrackState.SynSent),
            (Tcp(0.001, Server, 8080, FwLan, 40000, SynAck, 900, 101), $"{Public}:80>{Client}:40000", CtState.Established, TcpConntrackState.SynRecv),
            (Tcp(0.002, Client, 40000, Public, 80, Ack, 101, 901), $"{FwLan}:40000>{Server}:8080", CtState.Established, TcpConntrackState.Established),
            (Tcp(0.003, Client, 40000, Public, 80, PshAck, 101, 901, "GET / HTTP/1.0\r\n\r\n"), $"{FwLan}:40000>{Server}:8080", CtState.Established, TcpConntrackState.Established),
            (Tcp(0.004, Server, 8080, FwLan, 40000, PshAck, 901, 119, "HTTP/1.0 200 OK\r\n\r\n"), $"{Public}:80>{Client}:40000", CtState.Established, TcpConntrackState.Established),
            (Tcp(0.005, Server, 8080, FwLan, 40000, Fin, 920, 119), $"{Public}:80>{Client}:40000", CtState.Established, TcpConntrackState.FinWait),
            (Tcp(0.006, Client, 40000, Public, 80, Ack, 119, 921), $"{FwLan}:40000>{Server}:8080", CtState.Established, TcpConntrackState.CloseWait),
            (Tcp(0.007, Client, 40000, Public, 80, Fin, 119, 921), $"{FwLan}:40000>{Server}:8080", CtState.Established, TcpConntrackState.LastAck),
            (Tcp(0.008, Server, 8080, FwLan, 40000, Ack, 921, 120), $"{Public}:80>{Client}:40000", CtState.Established, TcpConntrackState.TimeWait),
        };
        ConnEntry? entry = null;
        foreach (var (input, expectedOut, state, tcp) in steps)
        {
            var r = fw.Forward(input);
            Assert.Equal(expectedOut, Flow(r.Out));
            Assert.Equal((state, tcp), (r.Ct.State, r.Ct.TcpStateAfter));
            entry ??= r.Ct.Entry;
            Assert.Same(entry, r.Ct.Entry);
            var again = Redecoded(r.Out);
            Assert.Equal(expectedOut, Flow(again));
            Assert.True(again.Ip!.HeaderChecksumValid, "IPv4 header checksum after NAT");
            Assert.True(again.Transport!.ChecksumValid, "TCP checksum after NAT");
            Assert.Equal(2, r.Ct.NatApplied.Count);
        }
        Assert.Equal($"src={Client} dst={Public} sport=40000 dport=80", entry!.Original.ToString());
        Assert.Equal($"src={Server} dst={FwLan} sport=8080 dport=40000", entry.Reply.ToString());
        Assert.True(entry.IsSnat && entry.IsDnat && entry.IsAssured);
        Assert.Equal("dst 203.0.113.1:80->10.0.0.2:8080", fw.Forward(Tcp(0.009, Client, 40000, Public, 80, Ack, 120, 921)).Ct.NatApplied[0]);
    }

    [Fact]
    public void A_reply_seen_before_its_request_is_not_a_reply()
    {
        var table = Table();
        // TCP: a SYN/ACK nobody asked for cannot start a connection.
        var synAck = table.Process(Tcp(0, Server, 8080, Client, 40000, SynAck, 900, 101), Hook.Prerouting);
        Assert.Equal(CtState.Invalid, synAck.State);
        // UDP has no handshake: the "reply" is the first packet, so it opens the connection in its own direction,
        // and the later "request" is its reply (ESTABLISHED, reply direction).
        var early = table.Process(Udp(1, Server, 53, Client, 5353), Hook.Prerouting);
        table.Confirm(early, Udp(1, Server, 53, Client, 5353));
        Assert.Equal((CtState.New, CtDirection.Original), (early.State, early.Direction));
        var request = table.Process(Udp(1.5, Client, 5353, Server, 53), Hook.Prerouting);
        Assert.Equal((CtState.Established, CtDirection.Reply), (request.State, request.Direction));
        Assert.Same(early.Entry, request.Entry);
        // ICMP: an echo reply without request is INVALID.
        Assert.Equal(CtState.Invalid, table.Process(Echo(2, Server, Client, request: false, id: 7), Hook.Prerouting).State);
    }

    [Fact]
    public void An_expired_UDP_flow_comes_back_as_NEW()
    {
        var r = new Router(Table());
        var first = r.Forward(Udp(0, Client, 5000, Server, 53));
        var reply = r.Forward(Udp(0.1, Server, 53, Client, 5000));
        Assert.Equal((CtState.New, CtState.Established), (first.Ct.State, reply.Ct.State));
        // Replied within two seconds: still the 30 s timeout, counted from the reply.
        Assert.Equal(30, reply.Ct.Entry!.SecondsLeft(T(0.1)));
        Assert.False(reply.Ct.Entry.IsAssured);
        var stillThere = r.Forward(Udp(30.0, Client, 5000, Server, 53));
        Assert.Equal(CtState.Established, stillThere.Ct.State);
        Assert.Equal(120, stillThere.Ct.Entry!.SecondsLeft(T(30.0))); // a stream after 2 s: 120 s and ASSURED
        Assert.True(stillThere.Ct.Entry.IsAssured);
        var back = r.Forward(Udp(150.0, Client, 5000, Server, 53));
        Assert.Equal(CtState.New, back.Ct.State);
        Assert.NotSame(first.Ct.Entry, back.Ct.Entry);
        Assert.Single(r.Table.Entries);
    }

    [Fact]
    public void Expired_entries_of_other_flows_are_forgotten_as_the_capture_clock_moves_on()
    {
        var r = new Router(Table());
        for (ushort port = 5000; port < 5010; port++) r.Forward(Udp(0, Client, port, Server, 53));
        Assert.Equal(10, r.Table.Entries.Count());
        r.Forward(Udp(29.0, Client, 6000, Server, 53)); // the ten are still alive: nothing to forget
        Assert.Equal(11, r.Table.Entries.Count());
        // At 31 s the ten have expired (30 s unreplied); a packet of another flow lets the table forget them, as the
        // kernel's gc_worker does, while conntrack -L (live entries) was already without them.
        Assert.Equal(1, r.Table.CountAt(T(31.0)));
        r.Forward(Udp(31.0, Client, 7000, Server, 53));
        Assert.Equal([6000, 7000], r.Table.Entries.Select(e => (int)e.Original.SourcePort));
    }

    [Fact]
    public void Unreplied_UDP_expires_after_30_seconds()
    {
        var r = new Router(Table());
        var first = r.Forward(Udp(0, Client, 5000, Server, 53));
        var refresh = r.Forward(Udp(29.9, Client, 5000, Server, 53)); // still NEW (no reply), timeout restarts
        Assert.Equal(CtState.New, refresh.Ct.State);
        Assert.Same(first.Ct.Entry, refresh.Ct.Entry);
        var late = r.Forward(Udp(59.9, Client, 5000, Server, 53)); // expired exactly now: a new entry
        Assert.Equal(CtState.New, late.Ct.State);
        Assert.NotSame(first.Ct.Entry, late.Ct.Entry);
        Assert.Same(late.Ct.Entry, Assert.Single(r.Table.Entries));
    }

    [Fact]
    public void ICMP_port_unreachable_for_a_NATed_UDP_flow_is_RELATED_and_rewritten_inside_and_out()
    {
        var wan = Router.Interface("eth0", "203.0.113.1/24");
        var r = new Router(Table())
        {
            Snat = p => p.Ip!.Source.ToString().StartsWith("10.", StringComparison.Ordinal)
                ? NatTargets.Masquerade(new NatRange(null, null, null, null), wan, Family.IPv4, A("203.0.113.254"))
                : null,
        };
        var query = r.Forward(Udp(0, "10.0.0.5", 5353, "192.0.2.53", 53, "query"));
        Assert.Equal("203.0.113.1:5353>192.0.2.53:53", Flow(query.Out));

        // The server answers the packet it received (the masqueraded one) with a port unreachable.
        var error = IcmpError(0.01, query.Out, "192.0.2.53", type: 3, code: 3);
        var rel = r.Forward(error);
        Assert.Equal((CtState.Related, CtDirection.Reply), (rel.Ct.State, rel.Ct.Direction));
        Assert.Same(query.Ct.Entry, rel.Ct.Entry);
        Assert.Equal(A("10.0.0.5"), rel.Out.Ip!.Destination);
        Assert.Equal(A("192.0.2.53"), rel.Out.Ip.Source);
        var quoted = ((IcmpHeader)rel.Out.Transport!).Quoted!;
        Assert.Equal(A("10.0.0.5"), quoted.Ip.Source);
        Assert.Equal(5353, ((UdpHeader)quoted.Transport!).SourcePort);

        var again = Redecoded(rel.Out);
        Assert.True(again.Ip!.HeaderChecksumValid);
        Assert.True(again.Transport!.ChecksumValid, "ICMP checksum after translation");
        var requoted = ((IcmpHeader)again.Transport).Quoted!;
        Assert.Equal("10.0.0.5", requoted.Ip.Source.ToString());
        Assert.Equal(5353, ((UdpHeader)requoted.Transport!).SourcePort);
        Assert.False(rel.Ct.Entry!.SeenReply); // an ICMP error is not a reply
    }

    [Fact]
    public void ICMP_error_about_an_unknown_connection_is_INVALID()
    {
        var table = Table();
        var stray = Udp(0, "203.0.113.1", 5353, "192.0.2.53", 53);
        var ct = table.Process(IcmpError(0.01, stray, "192.0.2.53"), Hook.Prerouting);
        Assert.Equal(CtState.Invalid, ct.State);
        Assert.Contains("no tracked connection", ct.InvalidReason);
    }

    [Fact]
    public void Two_clients_SNATed_onto_one_address_with_the_same_source_port_get_distinct_ports()
    {
        var r = new Router(Table())
        {
            Snat = p => Router.To("203.0.113.1"),
        };
        var a = r.Forward(Udp(0, "10.0.0.5", 40000, "192.0.2.53", 53));
        var b = r.Forward(Udp(0.1, "10.0.0.6", 40000, "192.0.2.53", 53));
        Assert.Equal("203.0.113.1:40000>192.0.2.53:53", Flow(a.Out)); // the first keeps its port
        var (bPort, _) = Ports(b.Out);
        Assert.NotEqual(40000, bPort);
        Assert.InRange(bPort, 1024, 65535); // searched in the unprivileged range, as the kernel does for ports >= 1024
        Assert.Equal(A("203.0.113.1"), b.Out.Ip!.Source);

        // Replies find their own client.
        var toA = r.Forward(Udp(0.2, "192.0.2.53", 53, "203.0.113.1", 40000));
        var toB = r.Forward(Udp(0.3, "192.0.2.53", 53, "203.0.113.1", bPort));
        Assert.Equal("192.0.2.53:53>10.0.0.5:40000", Flow(toA.Out));
        Assert.Equal("192.0.2.53:53>10.0.0.6:40000", Flow(toB.Out));

        // Same inputs, same choice: a second table picks the same port.
        var r2 = new Router(Table()) { Snat = p => Router.To("203.0.113.1") };
        r2.Forward(Udp(0, "10.0.0.5", 40000, "192.0.2.53", 53));
        Assert.Equal(bPort, Ports(r2.Forward(Udp(0.1, "10.0.0.6", 40000, "192.0.2.53", 53)).Out).Src);
    }

    [Fact]
    public void Privileged_source_ports_are_remapped_within_their_class()
    {
        var r = new Router(Table()) { Snat = p => Router.To("203.0.113.1") };
        r.Forward(Udp(0, "10.0.0.5", 123, "192.0.2.1", 123));
        var (port, _) = Ports(r.Forward(Udp(0.1, "10.0.0.6", 123, "192.0.2.1", 123)).Out);
        Assert.InRange(port, 1, 511);
        r.Forward(Udp(0.2, "10.0.0.5", 700, "192.0.2.1", 123));
        var (port2, _) = Ports(r.Forward(Udp(0.3, "10.0.0.6", 700, "192.0.2.1", 123)).Out);
        Assert.InRange(port2, 600, 1023);
    }

    [Fact]
    public void Conntrack_table_full_early_drops_an_unassured_entry_else_drops_the_packet()
    {
        var r = new Router(Table(ConntrackSettings.Default with { Max = 2 }));
        var first = r.Forward(Udp(0, "10.0.0.5", 1001, "192.0.2.1", 53));
        r.Forward(Udp(0.1, "10.0.0.5", 1002, "192.0.2.1", 53));
        var third = r.Forward(Udp(0.2, "10.0.0.5", 1003, "192.0.2.1", 53));
        Assert.Equal(CtState.New, third.Ct.State);
        Assert.True(third.Confirmed);
        Assert.DoesNotContain(first.Ct.Entry!, r.Table.Entries); // the oldest unassured entry made room
        Assert.Equal(2, r.Table.Entries.Count());

        // Make both remaining entries assured (replied, still active after 2 s): nothing can be dropped any more.
        foreach (var port in new ushort[] { 1002, 1003 })
        {
            r.Forward(Udp(0.5, "192.0.2.1", 53, "10.0.0.5", port));
            r.Forward(Udp(3.0, "10.0.0.5", port, "192.0.2.1", 53));
        }
        Assert.All(r.Table.Entries, e => Assert.True(e.IsAssured));
        var refused = r.Forward(Udp(3.1, "10.0.0.5", 1004, "192.0.2.1", 53));
        Assert.Equal("nf_conntrack: table full, dropping packet", refused.Ct.DropReason);
        Assert.Equal(2, r.Table.Entries.Count());

        // Once an entry expires, there is room again.
        Assert.Equal(CtState.New, r.Forward(Udp(200, "10.0.0.5", 1004, "192.0.2.1", 53)).Ct.State);
    }

    [Fact]
    public void A_packet_dropped_before_confirmation_leaves_no_entry()
    {
        var table = Table();
        var ct = table.Process(Udp(0, "10.0.0.5", 1001, "192.0.2.1", 53), Hook.Prerouting);
        Assert.True(ct.IsNewEntry);
        Assert.Empty(table.Entries); // not confirmed: the filter table dropped it
        var again = table.Process(Udp(0.1, "10.0.0.5", 1001, "192.0.2.1", 53), Hook.Prerouting);
        Assert.Equal(CtState.New, again.State);
        Assert.NotSame(ct.Entry, again.Entry);
    }

    [Fact]
    public void NOTRACK_packets_are_UNTRACKED_and_leave_no_entry()
    {
        var table = Table();
        var p = Udp(0, "10.0.0.5", 1001, "192.0.2.1", 53);
        var ct = table.Process(p, Hook.Prerouting, new CtTemplate(NoTrack: true));
        Assert.Equal(CtState.Untracked, ct.State);
        Assert.True(table.Confirm(ct, p));
        Assert.Empty(table.Entries);
    }

    [Fact]
    public void Zones_keep_identical_tuples_apart()
    {
        var table = Table();
        var p = Udp(0, "10.0.0.5", 1001, "192.0.2.1", 53);
        var z1 = table.Process(p, Hook.Prerouting, new CtTemplate(Zone: 1));
        table.Confirm(z1, p);
        var z2 = table.Process(p, Hook.Prerouting, new CtTemplate(Zone: 2));
        Assert.Equal(CtState.New, z2.State);
        table.Confirm(z2, p);
        Assert.Equal(2, table.Entries.Count());
    }

    [Fact]
    public void ICMP_echo_is_tracked_and_NAT_rewrites_its_id_only_on_clash()
    {
        var r = new Router(Table()) { Snat = p => Router.To("203.0.113.1") };
        var req = r.Forward(Echo(0, "10.0.0.5", "192.0.2.1", request: true, id: 77));
        Assert.Equal(CtState.New, req.Ct.State);
        Assert.Equal(77, ((IcmpHeader)req.Out.Transport!).Identifier);
        var other = r.Forward(Echo(0.1, "10.0.0.6", "192.0.2.1", request: true, id: 77));
        var id = ((IcmpHeader)other.Out.Transport!).Identifier;
        Assert.NotEqual(77, id);
        Assert.True(Redecoded(other.Out).Transport!.ChecksumValid);
        var reply = r.Forward(Echo(0.2, "192.0.2.1", "203.0.113.1", request: false, id: id));
        Assert.Equal((CtState.Established, CtDirection.Reply), (reply.Ct.State, reply.Ct.Direction));
        Assert.Equal(A("10.0.0.6"), reply.Out.Ip!.Destination);
        Assert.Equal(77, ((IcmpHeader)reply.Out.Transport!).Identifier);
        Assert.Equal(30, reply.Ct.Entry!.SecondsLeft(T(0.2)));
    }

    [Fact]
    public void Generic_protocols_are_tracked_by_addresses_with_the_generic_timeout()
    {
        var table = Table();
        var p = Generic(0, "10.0.0.5", "192.0.2.1", IpProtocol.Esp);
        var ct = table.Process(p, Hook.Prerouting);
        table.Confirm(ct, p);
        Assert.Equal(600, ct.Entry!.SecondsLeft(T(0)));
        var back = table.Process(Generic(1, "192.0.2.1", "10.0.0.5", IpProtocol.Esp), Hook.Prerouting);
        Assert.Equal((CtState.Established, CtDirection.Reply), (back.State, back.Direction));
    }

    [Fact]
    public void Neighbour_discovery_is_untracked()
    {
        var table = Table();
        var ns = PacketBuilder.Create(1, T(0), new IpHeader
        {
            Family = Family.IPv6, Source = A("fe80::1"), Destination = A("ff02::1:ff00:2"), Protocol = IpProtocol.Icmpv6,
            Ttl = 255, TotalLength = 0, HeaderLength = 0,
        }, new IcmpHeader(135, 0, true), new byte[20]);
        Assert.Equal(CtState.Untracked, table.Process(ns, Hook.Prerouting).State);
    }
}
