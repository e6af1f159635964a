using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m hashlimit (xt_hashlimit revision 3): one entry per key (source/destination address masked to the given prefixes,
/// ports) on the capture's clock, in one of four kinds:
/// <list type="bullet">
/// <item>packets: a token bucket, a packet costs Average/1,000,000 s, the bucket holds Burst packets and starts full;</item>
/// <item>bytes (N b/s, kb/s, mb/s): the kernel's credit counter — one second's worth of credit (4,194,304,000 at HZ 250
/// or 1000) refilled continuously and never above one second; a packet costs its 16-byte chunks ((len &gt;&gt; 4) + 1,
/// len = IP total length) times the per-chunk cost iptables derived from the rate, at most one second. The burst is a
/// count of whole seconds (burst bytes / rate, rounded up): when a packet costs more than is left and some are
/// left, the credit is set back to one full second and the count drops by one; it never grows back;</item>
/// <item>rate-match (--hashlimit-rate-match): nothing is limited, the entry counts packets (or bytes) in a window
/// that starts at a packet and is closed by the first packet at least --hashlimit-rate-interval seconds later; a
/// window is "over" when its count over its real length beat the rate per interval. A packet is under the limit
/// while the previous window was not over and the current count (this packet included) is at most the burst:
/// packets Burst + rate (rate = 1,000,000 / (1,000,000 / N) as the kernel rounds it); bytes the rate, or the burst's
/// seconds times the rate.</item>
/// </list>
/// upto: match when under the limit; above: when over. An entry idle longer than --hashlimit-htable-expire is forgotten.
/// Tables are shared by every rule naming the same --hashlimit-name (per family), as in the kernel: the first rule to
/// name a table fixes its key, expiry and the kind its entries are made and refilled in (rateinfo_init and
/// rateinfo_recalc read the table's configuration), while each rule judges the packet in its own kind
/// (hashlimit_mt_common reads the rule's): a packets rule takes the entry's cost from its credit, a bytes rule its
/// chunks times the entry's cost (refilling from the entry's count of refills), a rate-match rule adds one or the
/// length to the entry's count. Entries therefore hold the kernel's rateinfo words in the kernel's units (packets:
/// 137,438,953,472,000 credits a second, HZ × CREDITS_PER_JIFFY for HZ 250 or 1000; bytes: 4,194,304,000): a packets
/// rule on a bytes entry pays the cost of one 16-byte chunk a packet; a bytes rule on a packets entry pays at most a
/// second of byte credit, and when the credit is short it takes one off credit_cap (the packets cap) and sets the
/// credit to that second. A rule that shares a table with a rule on the other side of --hashlimit-rate-match is refused,
/// as the 6.18 kernel refuses it (EINVAL: iptables says "RULE_APPEND failed (Invalid argument)"); the two kinds would
/// share the words of one union.
/// </summary>
public sealed class HashlimitEvaluator : MatchEvaluator
{
    /// <summary>A second of byte-mode credit: CREDITS_PER_JIFFY_BYTES × HZ, the same for HZ 250 and 1000.</summary>
    public const long ByteCreditsPerSecond = 4_194_304_000;

    /// <summary>A second of packet-mode credit (revision 2/3): CREDITS_PER_JIFFY × HZ, the same for HZ 250 and 1000.</summary>
    public const ulong PacketCreditsPerSecond = 137_438_953_472_000;

    /// <summary>user2credits of one 1/1,000,000 s: HZ × CREDITS_PER_JIFFY / 1,000,000, rounded down as the kernel does.</summary>
    public const ulong PacketCreditsPerMicro = PacketCreditsPerSecond / HashlimitMatch.Scale;

    private const long NsPerSecond = 1_000_000_000;

    private readonly Table _table;
    private readonly bool _above;
    private readonly Kind _kind;

    private HashlimitEvaluator(Table table, bool above, Kind kind)
    {
        _table = table;
        _above = above;
        _kind = kind;
    }

    public static MatchEvaluator Create(HashlimitMatch m, CompileContext c)
    {
        // hashlimit_mt_check_common checks every rule's own configuration, then finds or makes the table
        var init = Initial(m, c);
        var tables = c.Runtime.RecentTables;
        var name = "hashlimit:" + m.Family + ":" + m.TableName;
        if (!tables.TryGetValue(name, out var shared)) tables[name] = shared = Table.Create(m, init);
        var table = (Table)shared;
        var kind = KindOf(m);
        if (IsRate(kind) != IsRate(table.Kind))
            throw c.Error($"hashlimit table \"{m.TableName}\" is shared by a rate-match and a non-rate-match rule ({table.Kind}, {kind}): "
                + "the kernel refuses the rule (EINVAL)");
        return new HashlimitEvaluator(table, m.Above, kind);
    }

    private static bool IsRate(Kind k) => k is Kind.RatePackets or Kind.RateBytes;

    private static Kind KindOf(HashlimitMatch m) => (m.ByteMode, m.RateMatch) switch
    {
        (false, false) => Kind.Packets,
        (true, false) => Kind.Bytes,
        (false, true) => Kind.RatePackets,
        (true, true) => Kind.RateBytes,
    };

    public override bool Matches(PacketState state)
    {
        if (PortsMissing(state))
        {
            // hashlimit_init_dst cannot read the ports it hashes: hotdrop.
            state.HotDrop = TransportFields.HotDropReason("hashlimit", state);
            return false;
        }
        bool under = _table.Admit(state, _kind);
        if (state.HotDrop is not null) return false; // the table was full: the packet is dropped where it stands
        return _above ? !under : under;
    }

    /// <summary>
    /// A port mode on a packet whose ports-carrying header ends before its 4 port bytes, or an IPv6 packet whose extension
    /// headers cannot be walked to the upper layer (ipv6_skip_exthdr fails in hashlimit_init_dst).
    /// </summary>
    private bool PortsMissing(PacketState state) =>
        (_table.Config.Modes & (HashlimitModes.SourcePort | HashlimitModes.DestinationPort)) != 0
        && !state.Ip.IsLaterFragment && TransportFields.IsShort(state)
        && (state.Ip.ExtensionWalkFailed
            || (state.Ip.Protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Sctp or IpProtocol.UdpLite
                && TransportFields.U16(state, 2) is null));

    private enum Kind { Packets, Bytes, RatePackets, RateBytes }

    /// <summary>
    /// The rateinfo words a new entry gets under this configuration (rateinfo_init), checked as hashlimit_mt_check_common
    /// checks the rule. Token kinds: credit, credit_cap, cost. Rate-match: count 0, rate, burst (W0 unused).
    /// </summary>
    private static (ulong W0, ulong W1, ulong W2, ulong W3) Initial(HashlimitMatch m, CompileContext c)
    {
        switch (KindOf(m))
        {
            case Kind.Packets:
            {
                ulong cost, cap;
                try
                {
                    cost = checked(m.Average * PacketCreditsPerMicro);
                    cap = checked(m.Average * Math.Max(1UL, m.Burst) * PacketCreditsPerMicro);
                }
                catch (OverflowException)
                {
                    throw c.Error($"hashlimit: rate and burst overflow the kernel's credit (it refuses the rule)");
                }
                return (cap, cap, cost, 0);
            }
            case Kind.Bytes:
            {
                ulong perChunk = ((ulong)HashlimitMatch.ByteCost(m.Average) * (ulong)ByteCreditsPerSecond) >> 32;
                if (perChunk == 0) throw c.Error($"hashlimit: rate {m.Average} b/s is too high for the kernel (it refuses the rule)");
                return ((ulong)ByteCreditsPerSecond, BurstSeconds(m), perChunk, 0);
            }
            case Kind.RatePackets:
            {
                // iptables sends 1,000,000 × unit / N divided by the unit again; the kernel turns it back into N
                ulong avg = m.Average == 0 ? 0 : HashlimitMatch.Scale / m.Average;
                if (avg == 0) throw c.Error($"hashlimit: rate-match rate {m.Average} is out of the kernel's range (it refuses the rule)");
                ulong rate = HashlimitMatch.Scale / avg;
                return (0, 0, rate, m.Burst + rate);
            }
            default:
            {
                ulong rate = HashlimitMatch.RoundedBytesPerSecond(m.Average);
                ulong seconds = BurstSeconds(m);
                return (0, 0, rate, seconds != 0 ? seconds * rate : rate);
            }
        }
    }

    /// <summary>Byte mode's burst as iptables sends it: whole seconds of the rounded rate, rounded up (0: none).</summary>
    private static ulong BurstSeconds(HashlimitMatch m)
    {
        if (m.Burst == 0) return 0;
        ulong perSecond = HashlimitMatch.RoundedBytesPerSecond(m.Average);
        if (perSecond == 0) return 0;
        return m.Burst / perSecond + (m.Burst % perSecond != 0 ? 1UL : 0UL);
    }

    /// <summary>One named table: the configuration of the rule that created it, and its entries.</summary>
    private sealed class Table
    {
        public required Kind Kind { get; init; }
        public required HashlimitMatch Config { get; init; }
        public required long ExpireNs { get; init; }
        public required (ulong W0, ulong W1, ulong W2, ulong W3) Init { get; init; }
        public Dictionary<Key, Entry> Entries { get; } = new();

        /// <summary>
        /// The most entries the table holds (cfg.max): --hashlimit-htable-max, else 8 × --hashlimit-htable-size, else
        /// 8 × 8,192 (the kernel's size on a host with more than 1 GB of memory); never below the size.
        /// </summary>
        public int MaxEntries => (int)Math.Min(int.MaxValue, Math.Max(
            Config.TableMax != 0 ? Config.TableMax : 8UL * (Config.TableSize != 0 ? Config.TableSize : 8192U),
            Config.TableSize != 0 ? Config.TableSize : 8192U));

        /// <summary>Rate-match: the window's length.</summary>
        public required long IntervalNs { get; init; }

        public static Table Create(HashlimitMatch m, (ulong, ulong, ulong, ulong) init) => new()
        {
            Kind = KindOf(m), Config = m, ExpireNs = (long)m.ExpireMs * 1_000_000, Init = init,
            IntervalNs = (long)m.RateIntervalSeconds * NsPerSecond,
        };

        /// <summary>
        /// Room for one more entry: the kernel counts entries until its collector (every gcinterval) removes the idle
        /// ones; the model forgets them right at their expiry, so it counts only entries still alive.
        /// </summary>
        private bool HasRoom(long now)
        {
            int max = MaxEntries;
            if (Entries.Count < max) return true;
            foreach (var (k, _) in Entries.Where(x => now - x.Value.SeenNs > ExpireNs).ToList()) Entries.Remove(k);
            return Entries.Count < max;
        }

        /// <summary>
        /// Finds or makes the packet's entry, brings it up to now in the table's kind and says whether the packet is
        /// under the limit as a rule of kind <paramref name="rule"/> judges it.
        /// </summary>
        public bool Admit(PacketState state, Kind rule)
        {
            var key = KeyOf(state);
            long now = state.Now.Nanoseconds;
            if (!Entries.TryGetValue(key, out var e))
            {
                if (!HasRoom(now))
                {
                    // dsthash_alloc_init finds the table full; hashlimit_mt then drops the packet (hotdrop).
                    state.HotDrop = "hashlimit: table \"" + Config.TableName + "\" is full (--hashlimit-htable-max): the match drops the packet";
                    return false;
                }
                Entries[key] = e = NewEntry(now);
            }
            else if (now - e.SeenNs > ExpireNs)
                Entries[key] = e = NewEntry(now);
            else
                Recalc(e, now);
            if (now > e.SeenNs) e.SeenNs = now;

            uint len = (uint)Math.Max(0, state.Ip.TotalLength);
            switch (rule)
            {
                case Kind.Packets:
                    if (e.W0 < e.W2) return false;
                    e.W0 -= e.W2;
                    return true;
                case Kind.Bytes:
                {
                    ulong cost = unchecked(((ulong)(len >> 4) + 1) * e.W2);
                    if (cost > (ulong)ByteCreditsPerSecond) cost = (ulong)ByteCreditsPerSecond;
                    if (e.W0 < cost && e.W1 != 0)
                    {
                        e.W1--;
                        e.W0 = (ulong)ByteCreditsPerSecond;
                        e.Fraction = 0;
                    }
                    if (e.W0 < cost) return false;
                    e.W0 -= cost;
                    return true;
                }
                default:
                    // rate-match rules share only rate-match tables: W1 the count, W3 the burst (the table's)
                    e.W1 += rule == Kind.RateBytes ? len : 1UL;
                    return !e.PreviousWindowOver && e.W1 <= e.W3;
            }
        }

        private Entry NewEntry(long now) =>
            new() { LastNs = now, SeenNs = now, W0 = Init.W0, W1 = Init.W1, W2 = Init.W2, W3 = Init.W3 };

        /// <summary>rateinfo_recalc in the table's kind.</summary>
        private void Recalc(Entry e, long now)
        {
            if (now <= e.LastNs) return;
            long delta = now - e.LastNs;
            switch (Kind)
            {
                case Kind.Packets:
                case Kind.Bytes:
                {
                    ulong perSecond = Kind == Kind.Packets ? PacketCreditsPerSecond : (ulong)ByteCreditsPerSecond;
                    ulong cap = Kind == Kind.Packets ? e.W1 : (ulong)ByteCreditsPerSecond;
                    // credit kept with a fraction in 10^-9 units, so that a nanosecond refills perSecond of them exactly
                    UInt128 scaled = (UInt128)e.W0 * NsPerSecond + (ulong)e.Fraction + (UInt128)(ulong)delta * perSecond;
                    if (scaled > (UInt128)cap * NsPerSecond) scaled = (UInt128)cap * NsPerSecond;
                    e.W0 = (ulong)(scaled / NsPerSecond);
                    e.Fraction = (long)(ulong)(scaled % NsPerSecond);
                    e.LastNs = now;
                    break;
                }
                default:
                {
                    if (delta < IntervalNs) return;
                    // over when count / delta > rate / interval
                    e.PreviousWindowOver = (UInt128)e.W1 * (ulong)IntervalNs > (UInt128)(ulong)delta * e.W2;
                    e.W1 = 0;
                    e.LastNs = now;
                    break;
                }
            }
        }

        private Key KeyOf(PacketState state)
        {
            var ip = state.Ip;
            var m = Config;
            var modes = m.Modes;
            UInt128 src = 0, dst = 0;
            if ((modes & HashlimitModes.SourceIp) != 0) src = ip.Source.Value & new Cidr(ip.Source, Math.Min(m.SourcePrefixLength, ip.Source.BitLength)).Mask;
            if ((modes & HashlimitModes.DestinationIp) != 0) dst = ip.Destination.Value & new Cidr(ip.Destination, Math.Min(m.DestinationPrefixLength, ip.Destination.BitLength)).Mask;
            ushort sp = 0, dp = 0;
            if ((modes & (HashlimitModes.SourcePort | HashlimitModes.DestinationPort)) != 0 && !ip.IsLaterFragment)
            {
                (sp, dp) = state.Packet.Transport switch
                {
                    TcpHeader t => (t.SourcePort, t.DestinationPort),
                    UdpHeader u => (u.SourcePort, u.DestinationPort),
                    SctpHeader s => (s.SourcePort, s.DestinationPort),
                    null when TransportFields.IsShort(state) => (TransportFields.U16(state, 0) ?? 0, TransportFields.U16(state, 2) ?? 0),
                    _ => ((ushort)0, (ushort)0),
                };
                if ((modes & HashlimitModes.SourcePort) == 0) sp = 0;
                if ((modes & HashlimitModes.DestinationPort) == 0) dp = 0;
            }
            return new Key(src, dst, sp, dp, (modes & (HashlimitModes.SourcePort | HashlimitModes.DestinationPort)) != 0 ? ip.Protocol : (byte)0);
        }
    }

    private readonly record struct Key(UInt128 Source, UInt128 Destination, ushort SourcePort, ushort DestinationPort, byte Protocol);

    /// <summary>
    /// One key's state: the kernel's dsthash_ent rateinfo words. Token tables: W0 credit, W1 credit_cap (packets) or
    /// refills left (bytes), W2 cost. Rate-match tables: W1 the window's count, W2 the rate, W3 the burst.
    /// </summary>
    private sealed class Entry
    {
        public ulong W0, W1, W2, W3;
        /// <summary>Token tables: credit below one unit, in 10^-9 units.</summary>
        public long Fraction;
        /// <summary>Rate-match: whether the previous window was over (prev_window).</summary>
        public bool PreviousWindowOver;
        /// <summary>Last refill (token tables) or start of the current window (rate-match).</summary>
        public long LastNs;
        /// <summary>Last packet, for expiry.</summary>
        public long SeenNs;
    }
}
