using Harness.Engine.Routing;
using Harness.Engine.Walk;
using Harness.Net;

namespace Harness.Engine;

/// <summary>
/// The MTU a packet meets on its way out, as the kernel (6.x) takes it from the route:
/// <list type="bullet">
/// <item>IPv4, forwarded or sent (ip_dst_mtu_maybe_forward): the route's mtu metric when it has one, else the device's
/// MTU; at most 65,535. The same value for ip_forward's check and for ip_finish_output's fragmentation.</item>
/// <item>IPv6, ip6_forward's check (ip6_dst_mtu_maybe_forward with forwarding): the route's mtu metric only when it
/// is locked (`mtu lock N`), else the device's IPv6 MTU (net.ipv6.conf.DEV.mtu, by default the device's MTU); at
/// least 1,280.</item>
/// <item>IPv6 after POSTROUTING (ip6_skb_dst_mtu, dst_mtu): the route's mtu metric, locked or not, else the device's
/// IPv6 MTU. So an unlocked route MTU below the device's lets a forwarded packet through FORWARD and POSTROUTING and
/// ip6_fragment then refuses it.</item>
/// </list>
/// Learned path MTUs (the route cache's PMTU exceptions) are not modelled: forwarding ignores them unless
/// net.ipv4.ip_forward_use_pmtu is set.
/// </summary>
internal static class Mtu
{
    /// <summary>IPV6_MIN_MTU.</summary>
    public const int Ipv6Minimum = 1280;

    /// <summary>IP_MAX_MTU.</summary>
    public const int Ipv4Maximum = 65535;

    /// <summary>The device's MTU for <paramref name="family"/> (IPv6: its mtu6 sysctl when the host gives one), or null for a device the host does not list.</summary>
    public static int? Device(EngineRuntime runtime, string? device, Family family) => runtime.DeviceMtu(device, family);

    /// <summary>
    /// The MTU for <paramref name="route"/>: at ip_forward / ip6_forward's check when <paramref name="forwardCheck"/>,
    /// else after POSTROUTING. Null when the route's device is not one of the host's interfaces (nothing is checked).
    /// </summary>
    public static int? Of(EngineRuntime runtime, RouteResult route, Family family, bool forwardCheck)
    {
        if (route.Kind != RouteKind.Unicast) return null;
        var device = Device(runtime, route.Device, family);
        if (family == Family.IPv4)
        {
            int? mtu = route.Mtu > 0 ? route.Mtu : device;
            return mtu is int m ? Math.Min(m, Ipv4Maximum) : null;
        }
        if (device is null) return null;
        int v6 = route.Mtu > 0 && (route.MtuLocked || !forwardCheck) ? route.Mtu : device.Value;
        return forwardCheck ? Math.Max(v6, Ipv6Minimum) : v6;
    }
}
