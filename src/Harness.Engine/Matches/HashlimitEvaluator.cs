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
/// Tables are shared by every rule naming the same --hashlimit-name, as in the kernel; the first rule to name a table
/// fixes its key, rate, burst and expiry (the kernel copies its configuration into the table), later rules only bring
/// upto/above. Rules sharing a table but differing in kind (packets, bytes, rate-match) are refused.
/// </summary>
public sealed class HashlimitEvaluator : MatchEvaluator
{
    /// <summary>A second of byte-mode credit: CREDITS_PER_JIFFY_BYTES × HZ, the same for HZ 250 and 1000.</summary>
    public const long ByteCreditsPerSecond = 4_194_304_000;

    private const long NsPerSecond = 1_000_000_000;

    private readonly Table _table;
    private readonly bool _above;

    private HashlimitEvaluator(Table table, bool above)
    {
        _table = table;
        _above = above;
    }

    public static MatchEvaluator Create(HashlimitMatch m, CompileContext c)
    {
        var tables = c.Runtime.RecentTables;
        var name = "hashlimit:" + m.Family + ":" + m.TableName;
        if (!tables.TryGetValue(name, out var shared)) tables[name] = shared = Table.Create(m, c);
        var table = (Table)shared;
        if (table.Kind != KindOf(m))
            throw c.Error($"hashlimit table \"{m.TableName}\" is shared by rules of different kinds ({table.Kind}, {KindOf(m)}); not modelled");
        return new HashlimitEvaluator(table, m.Above);
    }

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
        bool under = _table.Admit(state);
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

    /// <summary>One named table: the configuration of the rule that created it, and its entries.</summary>
    private sealed class Table
    {
        public required Kind Kind { get; init; }
        public required HashlimitMatch Config { get; init; }
        public required long ExpireNs { get; init; }
        /// <summary>Packets: ns per packet; bytes: credit per 16-byte chunk.</summary>
        public long Cost { get; init; }
        /// <summary>Packets: ns of tokens when full; bytes: the count of one-second refills.</summary>
        public long Capacity { get; init; }
        /// <summary>Rate-match: packets or bytes per interval as the kernel rounds them, and the most per window.</summary>
        public ulong Rate { get; init; }
        public ulong Burst { get; init; }
        public long IntervalNs { get; init; }
        public Dictionary<Key, Entry> Entries { get; } = new();

        /// <summary>
        /// The most entries the table holds (cfg.max): --hashlimit-htable-max, else 8 × --hashlimit-htable-size, else
        /// 8 × 8,192 (the kernel's size on a host with more than 1 GB of memory); never below the size.
        /// </summary>
        public int MaxEntries => (int)Math.Min(int.MaxValue, Math.Max(
            Config.TableMax != 0 ? Config.TableMax : 8UL * (Config.TableSize != 0 ? Config.TableSize : 8192U),
            Config.TableSize != 0 ? Config.TableSize : 8192U));

        public static Table Create(HashlimitMatch m, CompileContext c)
        {
            var kind = KindOf(m);
            long expire = (long)m.ExpireMs * 1_000_000;
            switch (kind)
            {
                case Kind.Packets:
                {
                    long cost = checked((long)m.Average * 1000);
                    return new Table { Kind = kind, Config = m, ExpireNs = expire, Cost = cost, Capacity = cost * (long)Math.Max(1UL, m.Burst) };
                }
                case Kind.Bytes:
                {
                    ulong perChunk = ((ulong)HashlimitMatch.ByteCost(m.Average) * (ulong)ByteCreditsPerSecond) >> 32;
                    if (perChunk == 0) throw c.Error($"hashlimit: rate {m.Average} b/s is too high for the kernel (it refuses the rule)");
                    return new Table { Kind = kind, Config = m, ExpireNs = expire, Cost = (long)perChunk, Capacity = (long)BurstSeconds(m) };
                }
                case Kind.RatePackets:
                {
                    // iptables sends 1,000,000 × unit / N divided by the unit again; the kernel turns it back into N
                    ulong avg = m.Average == 0 ? 0 : HashlimitMatch.Scale / m.Average;
                    if (avg == 0) throw c.Error($"hashlimit: rate-match rate {m.Average} is out of the kernel's range (it refuses the rule)");
                    ulong rate = HashlimitMatch.Scale / avg;
                    return new Table
                    {
                        Kind = kind, Config = m, ExpireNs = expire, Rate = rate, Burst = m.Burst + rate,
                        IntervalNs = (long)m.RateIntervalSeconds * NsPerSecond,
                    };
                }
                default:
                {
                    ulong rate = HashlimitMatch.RoundedBytesPerSecond(m.Average);
                    ulong seconds = BurstSeconds(m);
                    return new Table
                    {
                        Kind = kind, Config = m, ExpireNs = expire, Rate = rate, Burst = seconds != 0 ? seconds * rate : rate,
                        IntervalNs = (long)m.RateIntervalSeconds * NsPerSecond,
                    };
                }
            }
        }

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

        /// <summary>Byte mode's burst as iptables sends it: whole seconds of the rounded rate, rounded up (0: none).</summary>
        private static ulong BurstSeconds(HashlimitMatch m)
        {
            if (m.Burst == 0) return 0;
            ulong perSecond = HashlimitMatch.RoundedBytesPerSecond(m.Average);
            if (perSecond == 0) return 0;
            return m.Burst / perSecond + (m.Burst % perSecond != 0 ? 1UL : 0UL);
        }

        /// <summary>Finds or makes the packet's entry, brings it up to now and says whether the packet is under the limit.</summary>
        public bool Admit(PacketState state)
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
            switch (Kind)
            {
                case Kind.Packets:
                    if (e.Credit < Cost) return false;
                    e.Credit -= Cost;
                    return true;
                case Kind.Bytes:
                {
                    ulong cost = Math.Min(((ulong)(len >> 4) + 1) * (ulong)Cost, (ulong)ByteCreditsPerSecond);
                    long scaled = ScaledCredit(cost);
                    if (e.Credit < scaled && e.Refills > 0)
                    {
                        e.Refills--;
                        e.Credit = FullByteCredit;
                    }
                    if (e.Credit < scaled) return false;
                    e.Credit -= scaled;
                    return true;
                }
                default:
                    e.Count += Kind == Kind.RateBytes ? len : 1UL;
                    return !e.PreviousWindowOver && e.Count <= Burst;
            }
        }

        /// <summary>Byte credit is kept multiplied by 10^9 so that a nanosecond refills exactly ByteCreditsPerSecond units.</summary>
        private const long FullByteCredit = ByteCreditsPerSecond * NsPerSecond;

        private static long ScaledCredit(ulong credit) => (long)credit * NsPerSecond;

        private Entry NewEntry(long now) => Kind switch
        {
            Kind.Packets => new Entry { LastNs = now, SeenNs = now, Credit = Capacity },
            Kind.Bytes => new Entry { LastNs = now, SeenNs = now, Credit = FullByteCredit, Refills = Capacity },
            _ => new Entry { LastNs = now, SeenNs = now },
        };

        private void Recalc(Entry e, long now)
        {
            if (now <= e.LastNs) return;
            long delta = now - e.LastNs;
            switch (Kind)
            {
                case Kind.Packets:
                    e.Credit = Math.Min(Capacity, e.Credit + delta);
                    e.LastNs = now;
                    break;
                case Kind.Bytes:
                    e.Credit = delta >= NsPerSecond ? FullByteCredit : Math.Min(FullByteCredit, e.Credit + delta * ByteCreditsPerSecond);
                    e.LastNs = now;
                    break;
                default:
                    if (delta < IntervalNs) return;
                    // over when count / delta > rate / interval
                    e.PreviousWindowOver = (UInt128)e.Count * (UInt128)IntervalNs > (UInt128)delta * Rate;
                    e.Count = 0;
                    e.LastNs = now;
                    break;
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

    /// <summary>One key's state (the kernel's dsthash_ent rateinfo).</summary>
    private sealed class Entry
    {
        /// <summary>Packets: tokens in ns; bytes: credit × 10^9.</summary>
        public long Credit;
        /// <summary>Bytes: one-second refills left.</summary>
        public long Refills;
        /// <summary>Last refill (packets, bytes) or start of the current window (rate-match).</summary>
        public long LastNs;
        /// <summary>Last packet, for expiry.</summary>
        public long SeenNs;
        /// <summary>Rate-match: packets or bytes seen in the current window, and whether the previous one was over.</summary>
        public ulong Count;
        public bool PreviousWindowOver;
    }
}
