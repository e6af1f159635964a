using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using static Harness.Engine.Tests.Support.TestRules;

namespace Harness.Engine.Tests;

/// <summary>The path of a packet through the host: arrivals, forwarding, local output, loopback, the stack's own drops.</summary>
public class PathTests
{
    private static IReadOnlyList<Outcome> Run(Packet packet, Host? host = null, Ruleset? v4 = null, Ruleset? v6 = null) =>
        Engine.Create(v4, v6, host ?? TestHosts.Router(), EngineOptions.Default).Process(packet);

    [Fact]
    public void Forwarded_packet_leaves_by_the_routed_interface_with_ttl_decremented()
    {
        var o = Run(P.Syn("192.168.1.50", 40000, "198.51.100.7", 443, "eth1"))[0];
        Assert.Equal((FinalVerdict.Accept, Disposition.Forwarded, "eth1", "eth0"), (o.Verdict, o.Disposition, o.InInterface, o.OutInterface));
        Assert.Equal(63, o.Packet.Ip!.Ttl);
    }

    [Fact]
    public void Forward_hook_sees_the_egress_interface()
    {
        var rules = Filter(Chain("FORWARD", Verdict.Drop, Rule(new IpHeaderMatch(InInterface: If("eth1"), OutInterface: If("eth0")), Accept)));
        Assert.Equal(FinalVerdict.Accept, Run(P.Syn("192.168.1.50", 40000, "198.51.100.7", 443, "eth1"), v4: rules)[0].Verdict);
        var back = Run(P.Syn("198.51.100.7", 443, "192.168.1.50", 40000, "eth0"), v4: rules)[0];
        Assert.Equal((FinalVerdict.Drop, "filter:FORWARD:policy", Hook.Forward), (back.Verdict, back.DecidingRule, back.DroppedAt));
    }

    [Fact]
    public void Forwarding_disabled_drops_with_that_reason()
    {
        var o = Run(P.Syn("192.168.1.50", 40000, "198.51.100.7", 443, "eth1"), TestHosts.Router(forwarding: false))[0];
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, "forwarding disabled", (string?)null), (o.Verdict, o.Disposition, o.Reason, o.DecidingRule));
    }

    [Fact]
    public void Ttl_one_is_dropped_and_answered_with_time_exceeded()
    {
        var outcomes = Run(P.Udp("192.168.1.50", 5000, "198.51.100.7", 33434, "eth1", ttl: 1));
        Assert.Equal(2, outcomes.Count);
        Assert.Equal("TTL exceeded in forwarding", outcomes[0].Reason);
        var icmp = outcomes[1];
        Assert.True(icmp.Generated);
        Assert.Equal(Disposition.Sent, icmp.Disposition);
        Assert.Equal("eth1", icmp.OutInterface);
        Assert.Equal(Address.Parse("192.168.1.1"), icmp.Packet.Ip!.Source);
        Assert.Equal(Address.Parse("192.168.1.50"), icmp.Packet.Ip.Destination);
        var header = Assert.IsType<IcmpHeader>(icmp.Packet.Transport);
        Assert.Equal((11, 0), (header.Type, header.Code));
    }

    [Fact]
    public void Packet_from_a_local_address_without_interface_is_sent_through_output()
    {
        var o = Run(P.Syn("203.0.113.1", 50000, "198.51.100.7", 80, iface: null))[0];
        Assert.Equal((Disposition.Sent, "eth0", (string?)null), (o.Disposition, o.OutInterface, o.InInterface));
        Assert.Equal(64, o.Packet.Ip!.Ttl);
    }

    [Fact]
    public void Loopback_traffic_goes_out_and_back_in_through_lo()
    {
        var rules = Filter(Chain("INPUT", Verdict.Drop, Rule(new IpHeaderMatch(InInterface: If("lo")), Accept)), Chain("OUTPUT", Verdict.Accept));
        var o = Run(P.Syn("127.0.0.1", 50000, "127.0.0.1", 5432, iface: null), v4: rules)[0];
        Assert.Equal((FinalVerdict.Accept, Disposition.Delivered, "filter:INPUT:1"), (o.Verdict, o.Disposition, o.DecidingRule));
        Assert.Equal(["OUTPUT:filter:OUTPUT", "OUTPUT:filter:OUTPUT:policy", "INPUT:filter:INPUT", "INPUT:filter:INPUT:1"], o.Path.Select(s => s.ToString()));
    }

    [Fact]
    public void Strict_rp_filter_drops_a_spoofed_source()
    {
        var host = TestHosts.Router(sysctls: Sysctls.Defaults.With("net.ipv4.conf.all.rp_filter", "1"));
        var spoofed = Run(P.Syn("198.51.100.7", 1000, "192.168.1.1", 22, "eth1"), host)[0];
        Assert.Equal((FinalVerdict.Drop, Hook.Prerouting), (spoofed.Verdict, spoofed.DroppedAt));
        Assert.StartsWith("rp_filter", spoofed.Reason);
        Assert.Equal(Disposition.Delivered, Run(P.Syn("192.168.1.50", 1000, "192.168.1.1", 22, "eth1"), host)[0].Disposition);
        var loose = TestHosts.Router(sysctls: Sysctls.Defaults.With("net.ipv4.conf.all.rp_filter", "2"));
        Assert.Equal(Disposition.Delivered, Run(P.Syn("198.51.100.7", 1000, "192.168.1.1", 22, "eth1"), loose)[0].Disposition);
    }

    [Fact]
    public void Own_address_as_source_from_outside_is_a_martian()
    {
        var o = Run(P.Syn("192.168.1.1", 1000, "203.0.113.1", 22, "eth0"))[0];
        Assert.Equal(FinalVerdict.Drop, o.Verdict);
        Assert.Contains("martian", o.Reason);
    }

    [Fact]
    public void Bad_header_checksum_and_decode_errors_never_reach_netfilter()
    {
        var bad = P.Syn("198.51.100.7", 1, "203.0.113.1", 22);
        bad = bad with { Ip = bad.Ip! with { HeaderChecksumValid = false } };
        var o = Run(bad)[0];
        Assert.Equal(("bad IPv4 header checksum", 0), (o.Reason, o.Path.Length));
        var broken = new Packet { Number = 9, Time = Timestamp.FromSeconds(2), Interface = "eth0", DecodeError = "truncated IPv4 header at byte 14" };
        Assert.Equal("truncated IPv4 header at byte 14", Run(broken)[0].Reason);
    }

    [Fact]
    public void Frame_for_another_mac_is_dropped_before_prerouting()
    {
        var p = P.Syn("198.51.100.7", 1, "203.0.113.1", 22) with
        {
            Link = new LinkHeader(MacAddress.Parse("02:00:00:00:00:99"), MacAddress.Parse("02:00:00:00:00:55"), [], 0x0800),
        };
        Assert.Contains("PACKET_OTHERHOST", Run(p)[0].Reason);
    }

    [Fact]
    public void Broadcast_to_the_subnet_is_delivered_locally()
    {
        var o = Run(P.Udp("192.168.1.50", 68, "192.168.1.255", 67, "eth1"))[0];
        Assert.Equal(Disposition.Delivered, o.Disposition);
    }

    [Fact]
    public void Ipv6_is_forwarded_with_the_ipv6_ruleset()
    {
        var v6 = new Ruleset(Family.IPv6, [new Table("filter", [Chain("FORWARD", Verdict.Drop, Rule(new IpHeaderMatch(Source: Cidr4("2001:db8:2::/64")), Accept))])]);
        var o = Run(P.Syn("2001:db8:2::50", 40000, "2001:db8:99::1", 443, "eth1"), v6: v6)[0];
        Assert.Equal((Disposition.Forwarded, "eth0", "filter:FORWARD:1"), (o.Disposition, o.OutInterface, o.DecidingRule));
        Assert.Equal(63, o.Packet.Ip!.Ttl);
        var back = Run(P.Syn("2001:db8:99::1", 443, "2001:db8:2::50", 40000, "eth0"), v6: v6)[0];
        Assert.Equal(FinalVerdict.Drop, back.Verdict);
    }

    [Fact]
    public void Policy_routing_by_fwmark_picks_another_table()
    {
        var baseHost = TestHosts.Router();
        var host = baseHost with
        {
            Routes = baseHost.Routes.Add(new Route(Cidr4("0.0.0.0/0").Value, "eth1", Address.Parse("192.168.1.254"), Table: 100)),
            RoutingRules =
            [
                new RoutingRule(Family.IPv4, 0, Route.LocalTable),
                new RoutingRule(Family.IPv4, 100, 100, FwMark: 7),
                new RoutingRule(Family.IPv4, 32766, Route.MainTable),
            ],
        };
        var fib = new Routing.Fib(host);
        Assert.Equal("eth0", fib.Lookup(Address.Parse("8.8.8.8"), null, 0, "eth1").Device);
        Assert.Equal("eth1", fib.Lookup(Address.Parse("8.8.8.8"), null, 7, "eth1").Device);
        Assert.Equal(Routing.RouteKind.Local, fib.Lookup(Address.Parse("192.168.1.1"), null, 7, "eth1").Kind);
    }
}

/// <summary>What the host answers when it cannot forward.</summary>
public class UnreachableTests
{
    [Fact]
    public void Unreachable_route_is_answered_with_host_unreachable()
    {
        var h = TestHosts.Router();
        var host = h with { Routes = h.Routes.Add(new Route(TestRules.Cidr4("198.18.0.0/15").Value, null, Type: RouteType.Unreachable)) };
        var outcomes = Engine.Create(null, null, host, EngineOptions.Default).Process(P.Udp("192.168.1.50", 5000, "198.18.0.1", 53, "eth1"));
        Assert.Equal("unreachable route", outcomes[0].Reason);
        var icmp = Assert.IsType<IcmpHeader>(outcomes[1].Packet.Transport);
        Assert.Equal((3, 1), (icmp.Type, icmp.Code));
        Assert.Equal((Disposition.Sent, "eth1"), (outcomes[1].Disposition, outcomes[1].OutInterface));
    }

    [Fact]
    public void Blackhole_route_drops_silently()
    {
        var h = TestHosts.Router();
        var host = h with { Routes = h.Routes.Add(new Route(TestRules.Cidr4("198.18.0.0/15").Value, null, Type: RouteType.Blackhole)) };
        var outcomes = Engine.Create(null, null, host, EngineOptions.Default).Process(P.Udp("192.168.1.50", 5000, "198.18.0.1", 53, "eth1"));
        Assert.Equal("blackhole route", Assert.Single(outcomes).Reason);
    }
}
