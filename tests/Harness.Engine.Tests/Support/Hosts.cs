using System.Collections.Immutable;
using Harness.Hosts;
using Harness.Net;

namespace Harness.Engine.Tests.Support;

/// <summary>Small host descriptions used across the tests.</summary>
public static class TestHosts
{
    public static readonly MacAddress WanMac = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly MacAddress LanMac = MacAddress.Parse("02:00:00:00:00:02");

    /// <summary>
    /// A router: eth0 WAN 203.0.113.1/24 (default via 203.0.113.254), eth1 LAN 192.168.1.1/24, lo; IPv6 2001:db8:1::1/64
    /// on eth0 and 2001:db8:2::1/64 on eth1 (default via 2001:db8:1::fe). Forwarding on for both families.
    /// </summary>
    public static Host Router(bool forwarding = true, Sysctls? sysctls = null)
    {
        var s = sysctls ?? Sysctls.Defaults;
        if (forwarding) s = s.With("net.ipv4.ip_forward", "1").With("net.ipv6.conf.all.forwarding", "1");
        return new Host(
            [
                new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
                new HostInterface("eth0", 2, WanMac, [new InterfaceAddress(Address.Parse("203.0.113.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:1::1"), 64)]),
                new HostInterface("eth1", 3, LanMac, [new InterfaceAddress(Address.Parse("192.168.1.1"), 24), new InterfaceAddress(Address.Parse("2001:db8:2::1"), 64)]),
            ],
            [
                new Route(Cidr.TryParse("0.0.0.0/0", out var d4) ? d4 : default, "eth0", Address.Parse("203.0.113.254")),
                new Route(Cidr.TryParse("::/0", out var d6) ? d6 : default, "eth0", Address.Parse("2001:db8:1::fe")),
            ],
            ImmutableArray<RoutingRule>.Empty,
            s);
    }

    /// <summary>A single-homed server: eth0 10.0.0.10/24, default via 10.0.0.1, lo.</summary>
    public static Host Server() => new(
        [
            new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8)], IsLoopback: true),
            new HostInterface("eth0", 2, WanMac, [new InterfaceAddress(Address.Parse("10.0.0.10"), 24)]),
        ],
        [new Route(Cidr.TryParse("0.0.0.0/0", out var d) ? d : default, "eth0", Address.Parse("10.0.0.1"))],
        ImmutableArray<RoutingRule>.Empty,
        Sysctls.Defaults);
}
