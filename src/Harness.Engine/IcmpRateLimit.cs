using Harness.Hosts;
using Harness.Net;

namespace Harness.Engine;

/// <summary>
/// The kernel's limits on the ICMP and ICMPv6 errors a host sends (net/ipv4/icmp.c, net/ipv6/icmp.c, inetpeer.c,
/// route.c's ip_error), kept per engine (per replay) and driven only by packet timestamps:
/// <list type="bullet">
/// <item>Only types in the ratemask are limited (net.ipv4.icmp_ratemask, default 6168 = types 3, 4, 11, 12, except
/// fragmentation needed; net.ipv6.icmp.ratemask, default 0-1,3-127); other types are never limited.</item>
/// <item>The host-wide credit (icmp_global_allow, shared by IPv4 and IPv6): a message may go while the credit is
/// positive; once it is not, the credit is refilled by icmp_msgs_per_sec × the time since the last refill (at most
/// one second, nothing when under 20 ms), capped at icmp_msgs_burst. It starts empty, so the first message refills
/// it. Skipped for a packet that arrived on a loopback interface (and then the per-destination limit is too).</item>
/// <item>The per-destination token bucket (inet_peer_xrlim_allow): tokens are time, a message costs the ratelimit
/// interval (net.ipv4.icmp_ratelimit, default 1000 ms; net.ipv6.icmp.ratelimit, default 100 ms) and the bucket holds
/// at most six intervals. A new destination starts with 60 s of time, so a burst of 6, then one per interval.
/// Interval 0 turns it off. An error to one of the host's own addresses (it leaves through lo) is not limited.</item>
/// <item>IPv4 route errors (unreachable / prohibit / no route while forwarding) first pass ip_error's own bucket on
/// the same destination entry: cost 1 s, at most 5 s. Both buckets spend the same tokens.</item>
/// </list>
/// Differences from the kernel, all deterministic: tokens and credit are kept in nanoseconds of capture time, not
/// jiffies (a packet within a jiffy of a refill boundary may differ); each message sent spends exactly one global
/// credit, where the kernel spends 0, 1 or 2 at random (one on average); an idle destination entry is forgotten once
/// its buckets are full (the kernel collects idle ones after minutes; either way the next error finds a full burst,
/// except with an interval above 10 s, where this keeps the entry); VRFs (the l3mdev index in the IPv4 key) are not modelled. Kernel 6.18 no longer
/// scales the ICMPv6 interval by the route's prefix length, so neither does this.
/// </summary>
public sealed class IcmpRateLimit
{
    private const long Second = 1_000_000_000;
    private const long BurstFactor = 6;          // XRLIM_BURST_FACTOR
    private const long NewPeerCredit = 60 * Second; // a new inet_peer's rate_last is 60 s in the past
    private const long RouteErrorCost = Second;     // ip_rt_error_cost = HZ
    private const long RouteErrorBurst = 5 * Second; // ip_rt_error_burst = 5 * HZ
    private const long GlobalMinGap = Second / 50;  // HZ / 50

    private readonly long _ipv4Interval;
    private readonly long _ipv6Interval;
    private readonly long _ipv4Mask;
    private readonly bool[] _ipv6Mask;
    private readonly long _msgsPerSec;
    private readonly long _msgsBurst;

    private readonly Dictionary<Address, Peer> _peers = [];
    private long _globalCredit;
    private long? _globalStamp;

    public IcmpRateLimit(Sysctls sysctls)
    {
        _ipv4Interval = Math.Max(0, sysctls.IcmpRatelimitMs) * 1_000_000;
        _ipv6Interval = Math.Max(0, sysctls.Icmpv6RatelimitMs) * 1_000_000;
        _ipv4Mask = sysctls.IcmpRatemask;
        _ipv6Mask = [.. sysctls.Icmpv6Ratemask];
        _msgsPerSec = Math.Max(0, sysctls.IcmpMsgsPerSec);
        _msgsBurst = sysctls.IcmpMsgsBurst;
    }

    /// <summary>One destination's entry (inet_peer): its tokens and when they were last topped up, in nanoseconds.</summary>
    private sealed class Peer(long tokens, long last)
    {
        public long Tokens = tokens;
        public long Last = last;
    }

    /// <summary>How many destinations have an entry (idle ones are forgotten when the table grows, see <c>Prune</c>).</summary>
    public int TrackedDestinations => _peers.Count;

    /// <summary>What stopped an error, as the outcome's reason names it.</summary>
    public const string PerDestination = "icmp_ratelimit";
    public const string PerDestinationV6 = "net.ipv6.icmp.ratelimit";
    public const string Global = "icmp_msgs_per_sec";
    public const string RouteError = "ip_error's per-source limit (1/s, burst 5)";

    /// <summary>True when the type is limited at all (in the ratemask; IPv4 fragmentation-needed never is).</summary>
    public bool InMask(Family family, byte type, byte code)
    {
        if (family == Family.IPv4)
        {
            if (type > 18) return false; // NR_ICMP_TYPES
            if (type == 3 && code == 4) return false; // PMTU discovery is never limited
            return ((_ipv4Mask >> type) & 1) != 0;
        }
        return _ipv6Mask[type];
    }

    /// <summary>
    /// ip_error's bucket for an IPv4 route error about a packet from <paramref name="source"/>: false when the kernel
    /// sends nothing (icmp_send is not even called).
    /// </summary>
    public bool AllowRouteError(Address source, Timestamp now)
    {
        var peer = PeerFor(source, now);
        peer.Tokens = Math.Min(peer.Tokens + Math.Max(0, now.Nanoseconds - peer.Last), RouteErrorBurst);
        peer.Last = now.Nanoseconds;
        if (peer.Tokens < RouteErrorCost) return false;
        peer.Tokens -= RouteErrorCost;
        return true;
    }

    /// <summary>
    /// icmp_global_allow for a type in the mask (types outside it always pass, <paramref name="limited"/> false).
    /// <paramref name="limited"/> tells whether the per-destination limit then applies. Spends no credit.
    /// </summary>
    public bool AllowGlobal(Family family, byte type, byte code, bool arrivedOnLoopback, Timestamp now, out bool limited)
    {
        limited = false;
        if (arrivedOnLoopback || !InMask(family, type, code)) return true;
        if (_globalCredit > 0) { limited = true; return true; }
        long gap = _globalStamp is { } stamp ? Math.Clamp(now.Nanoseconds - stamp, 0, Second) : Second;
        if (gap < GlobalMinGap) return false;
        long increment = _msgsPerSec * gap / Second;
        if (increment == 0) return false;
        _globalStamp = now.Nanoseconds;
        _globalCredit = Math.Min(_globalCredit + increment, _msgsBurst);
        limited = true;
        return true;
    }

    /// <summary>
    /// The per-destination bucket (icmpv4_xrlim_allow / icmpv6_xrlim_allow) for an error to <paramref name="destination"/>;
    /// when it lets the error go, one global credit is spent. An error to a local address (via lo) always goes.
    /// </summary>
    public bool AllowDestination(Address destination, bool toLoopback, Timestamp now)
    {
        if (!toLoopback)
        {
            long interval = destination.Family == Family.IPv4 ? _ipv4Interval : _ipv6Interval;
            var peer = PeerFor(destination, now);
            long elapsed = now.Nanoseconds - peer.Last;
            if (elapsed > 0)
            {
                peer.Last = now.Nanoseconds;
                peer.Tokens = Math.Min(peer.Tokens + elapsed, BurstFactor * interval);
            }
            if (peer.Tokens < interval) return false;
            peer.Tokens -= interval;
        }
        _globalCredit -= 1;
        return true;
    }

    private Peer PeerFor(Address address, Timestamp now)
    {
        if (_peers.TryGetValue(address, out var peer)) return peer;
        if (_peers.Count >= _pruneAt) Prune(now);
        _peers[address] = peer = new Peer(0, now.Nanoseconds - NewPeerCredit);
        return peer;
    }

    private int _pruneAt = 4096;

    /// <summary>
    /// Forgets entries idle long enough to have refilled every bucket: a new entry behaves the same (its 60 s of credit
    /// fills them too), so this changes no answer; it only keeps a capture of many sources from growing the table.
    /// Not done when an interval is so long (above 10 s) that a full bucket holds more than 60 s.
    /// </summary>
    private void Prune(Timestamp now)
    {
        long full = Math.Max(RouteErrorBurst, BurstFactor * Math.Max(_ipv4Interval, _ipv6Interval));
        if (full <= NewPeerCredit)
        {
            var idle = _peers.Where(kv => now.Nanoseconds - kv.Value.Last >= full).Select(kv => kv.Key).ToList();
            foreach (var address in idle) _peers.Remove(address);
        }
        _pruneAt = Math.Max(4096, 2 * _peers.Count);
    }
}
