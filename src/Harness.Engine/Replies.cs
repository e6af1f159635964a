using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine;

/// <summary>
/// The packets the host itself sends in answer to one it handled: REJECT's TCP reset (nf_send_reset) and ICMP/ICMPv6
/// errors (nf_send_unreach, icmp_send for an expired TTL): this class decides whether the kernel answers and from
/// which address, and applies the kernel's ICMP rate limits (<see cref="IcmpRateLimit"/>; TCP resets are never
/// limited); <see cref="PacketBuilder"/> builds the bytes.
/// </summary>
public static class Replies
{
    /// <summary>The kernel's default TTL / hop limit for packets it originates (net.ipv4.ip_default_ttl, hop_limit).</summary>
    public const byte DefaultTtl = 64;

    /// <summary>ICMP type 11 code 0 / ICMPv6 type 3 code 0 for a forwarded packet whose TTL ran out.</summary>
    public static Packet? TimeExceeded(PacketState s, EngineRuntime runtime) =>
        s.Family == Family.IPv4 ? IcmpError(s, runtime, 11, 0) : IcmpError(s, runtime, 3, 0);

    /// <summary>
    /// An ICMP (or ICMPv6) error quoting <paramref name="s"/>'s packet as it is now, from the address the kernel would
    /// pick: the packet's destination when it was for this host, else the address of the interface the error leaves by.
    /// Null when the kernel sends no error (an ICMP error about an ICMP error, a non-first fragment, a broadcast), or
    /// when a rate limit holds it back (<see cref="IcmpRateLimit"/>; then <see cref="PacketState.ReplySuppressed"/> says
    /// which), checked in the kernel's order: ip_error's bucket for a route error, the checks above, the host-wide
    /// credit, the route back, the per-destination bucket. <paramref name="mtu"/> goes in the header's second word
    /// (fragmentation needed: the next-hop MTU in its low 16 bits; packet too big: the whole word).
    /// </summary>
    public static Packet? IcmpError(PacketState s, EngineRuntime runtime, byte type, byte code, uint mtu = 0)
    {
        var original = s.Packet;
        var ip = original.Ip!;
        var limit = runtime.IcmpRateLimit;
        var now = s.Now;
        if (IsRouteError(s) && !limit.AllowRouteError(ip.Source, now)) return Suppressed(s, IcmpRateLimit.RouteError);
        if (ip.IsLaterFragment) return null;
        if (original.Transport is IcmpHeader { IsError: true }) return null;
        if (runtime.Fib.IsBroadcastAddress(ip.Destination) || IsMulticast(ip.Destination)) return null;
        bool arrivedOnLoopback = runtime.Interface(s.InInterface)?.IsLoopback == true;
        if (!limit.AllowGlobal(ip.Family, type, code, arrivedOnLoopback, now, out bool limited)) return Suppressed(s, IcmpRateLimit.Global);
        var back = runtime.Fib.IsLocalAddress(ip.Destination) ? null : runtime.Fib.Lookup(ip.Source, null, 0, null);
        var source = back is null ? ip.Destination : ReplySource(s, runtime, back);
        if (source is null) return null;
        if (limited && !limit.AllowDestination(ip.Source, IsLocalRoute(runtime, ip.Source, back), now))
            return Suppressed(s, ip.Family == Family.IPv4 ? IcmpRateLimit.PerDestination : IcmpRateLimit.PerDestinationV6);
        var offending = s.Dirty ? PacketBuilder.Rebuild(original) : original;
        return PacketBuilder.IcmpError(offending, type, code, source.Value, mtu, ttl: DefaultTtl);
    }

    /// <summary>ip_error's case: an IPv4 packet being forwarded met an unreachable / prohibit route or none (not a REJECT).</summary>
    private static bool IsRouteError(PacketState s) =>
        s.Family == Family.IPv4 && !s.Rejected
        && s.Route is { Kind: Routing.RouteKind.Unreachable or Routing.RouteKind.Prohibit or Routing.RouteKind.NoRoute };

    private static Packet? Suppressed(PacketState s, string limit)
    {
        s.ReplySuppressed = limit;
        return null;
    }

    /// <summary>REJECT --reject-with tcp-reset: the RST nf_send_reset builds (null for a RST, a fragment or non-TCP).</summary>
    public static Packet? TcpReset(PacketState s)
    {
        var original = s.Packet;
        var ip = original.Ip!;
        if (original.Transport is not TcpHeader tcp || (tcp.Flags & TcpFlags.Rst) != 0 || ip.IsLaterFragment) return null;
        if (!tcp.ChecksumValid) return null;
        return PacketBuilder.TcpReset(original, DefaultTtl);
    }

    /// <summary>True when the error goes to one of the host's own addresses (out through lo), which is never limited.</summary>
    private static bool IsLocalRoute(EngineRuntime runtime, Address destination, Routing.RouteResult? back) =>
        (back ?? runtime.Fib.Lookup(destination, null, 0, null)).Kind == Routing.RouteKind.Local;

    /// <summary>The error's source for a packet that was not for this host: the address of the interface it leaves by.</summary>
    private static Address? ReplySource(PacketState s, EngineRuntime runtime, Routing.RouteResult back)
    {
        var ip = s.Packet.Ip!;
        if (back.Kind is not (Routing.RouteKind.Unicast or Routing.RouteKind.Local)) return null;
        return runtime.Fib.SourceFor(ip.Source, back) ?? runtime.Fib.PrimaryAddress(s.InInterface, ip.Family);
    }

    private static bool IsMulticast(Address a) =>
        a.Family == Family.IPv4 ? ((uint)a.Value >> 28) == 0xE : (a.Value >> 120) == 0xFF;
}
