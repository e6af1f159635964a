using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m recent (xt_recent, kernel 6.18): named tables of addresses (source, or destination with --rdest), shared by every
/// rule naming the table, IPv4 and IPv6 alike. The table's address mask is the one of the first rule that names it.
/// Each entry keeps a ring of hit times on the capture's clock and the TTL of its last update. --set adds/refreshes
/// and matches; --rcheck/--update match when the address is listed (within --seconds, with at least --hitcount hits,
/// with the same TTL for --rttl); --update then records a hit when the rule's result (after `!`) is true; --remove
/// deletes and matches. The table holds at most <see cref="RecentTable.Capacity"/> entries (ip_list_tot): a new
/// address takes the place of the least recently updated one (--set, or --update that records; --rcheck does not
/// refresh). --reap looks at that least recently updated entry only and drops it when its last hit is older than
/// --seconds (not when it is the entry this --update is about to record on).
/// </summary>
public sealed class RecentEvaluator(RecentMatch m, RecentEvaluator.RecentTable table) : MatchEvaluator
{
    /// <summary>The kernel's ip_list_tot default: entries per table.</summary>
    public const int DefaultCapacity = 100;

    /// <summary>The ring size when ip_pkt_list_tot is 0 (its 6.x default) and no rule asks more hits.</summary>
    public const int DefaultRing = 32;

    /// <summary>The kernel refuses a --hitcount (and ip_pkt_list_tot) of this or more.</summary>
    public const uint MaxStamps = 65536;

    public const string ListTotKey = "xt_recent.ip_list_tot";
    public const string PktListTotKey = "xt_recent.ip_pkt_list_tot";

    public sealed class Entry((Family, UInt128) key, byte ttl, long[] ring)
    {
        public (Family Family, UInt128 Address) Key { get; } = key;
        public byte Ttl { get; set; } = ttl;

        /// <summary>The ring as the kernel keeps it: slots 0..<see cref="Count"/>-1 used, the next write at <see cref="Index"/>.</summary>
        public long[] Ring { get; } = ring;

        public int Count { get; private set; }
        public int Index { get; private set; }
        internal LinkedListNode<Entry>? Node;

        public void Record(long now)
        {
            Index %= Ring.Length;
            Ring[Index++] = now;
            if (Index > Count) Count = Index;
        }

        public long Last => Ring[(Index - 1 + Ring.Length) % Ring.Length];

        /// <summary>The kept hit times, oldest first.</summary>
        public IEnumerable<long> Stamps =>
            Count < Ring.Length ? Ring.Take(Count) : Ring.Skip(Index % Ring.Length).Concat(Ring.Take(Index % Ring.Length));
    }

    /// <summary>One named table: the entries, their update order (head = least recently updated), the ring size.</summary>
    public sealed class RecentTable(string name, Address mask, int capacity, int ring)
    {
        public string Name { get; } = name;
        public Address Mask { get; } = mask;
        public int Capacity { get; } = capacity;

        /// <summary>Hit times kept per entry: a power of two, grown (at setup) for a rule with a larger --hitcount.</summary>
        public int Ring { get; internal set; } = ring;

        private readonly Dictionary<(Family, UInt128), Entry> _entries = [];
        private readonly LinkedList<Entry> _lru = new();

        public int Count => _entries.Count;

        /// <summary>Entries from least to most recently updated.</summary>
        public IEnumerable<Entry> Entries => _lru;

        public Entry? Find((Family, UInt128) key) => _entries.GetValueOrDefault(key);

        public Entry Add((Family, UInt128) key, byte ttl, long now)
        {
            if (_entries.Count >= Capacity) Remove(_lru.First!.Value);
            var e = new Entry(key, ttl, new long[Ring]);
            e.Record(now);
            e.Node = _lru.AddLast(e);
            _entries[key] = e;
            return e;
        }

        public void Touch(Entry e, long now)
        {
            e.Record(now);
            _lru.Remove(e.Node!);
            _lru.AddLast(e.Node!);
        }

        public void Remove(Entry e)
        {
            _entries.Remove(e.Key);
            _lru.Remove(e.Node!);
        }

        public Entry? LeastRecent => _lru.First?.Value;
    }

    public static MatchEvaluator Create(RecentMatch m, CompileContext c)
    {
        var sysctls = c.Runtime.Host.Sysctls;
        long capacity = sysctls.GetLong(ListTotKey, DefaultCapacity);
        long pktListTot = sysctls.GetLong(PktListTotKey, 0);
        if (capacity < 1 || capacity > int.MaxValue)
            throw c.Error($"recent: host {ListTotKey} = {capacity}: the xt_recent module does not load (1 or more)");
        if (pktListTot < 0 || pktListTot >= MaxStamps)
            throw c.Error($"recent: host {PktListTotKey} = {pktListTot}: the xt_recent module does not load (0-{MaxStamps - 1})");
        if (m.HitCount >= MaxStamps)
            throw c.Error($"recent: --hitcount {m.HitCount} is larger than the kernel's maximum {MaxStamps - 1} (it refuses the rule)");
        int ring = RingFor(m.HitCount, (uint)pktListTot);
        var name = "recent:" + m.ListName;
        if (!c.Runtime.RecentTables.TryGetValue(name, out var shared))
            c.Runtime.RecentTables[name] = shared = new RecentTable(m.ListName, m.Mask, (int)capacity, ring);
        var table = (RecentTable)shared;
        // The kernel flushes the table when a later rule needs a larger ring; at setup the table is still empty.
        if (ring > table.Ring) table.Ring = ring;
        return new RecentEvaluator(m, table);
    }

    /// <summary>The ring size a rule asks for: ip_pkt_list_tot (when set and above the hit count) or the hit count, rounded up to a power of two; 32 when neither.</summary>
    public static int RingFor(uint hitCount, uint pktListTot)
    {
        if (pktListTot != 0 && hitCount < pktListTot) return (int)System.Numerics.BitOperations.RoundUpToPowerOf2(pktListTot);
        if (hitCount != 0) return (int)System.Numerics.BitOperations.RoundUpToPowerOf2(hitCount);
        return DefaultRing;
    }

    public RecentTable Table => table;

    public override bool Matches(PacketState state)
    {
        var ip = state.Ip;
        var address = m.UseDestination ? ip.Destination : ip.Source;
        var mask = table.Mask;
        var key = (address.Family, address.Value & (mask.Family == address.Family ? mask.Value : UInt128.MaxValue));
        byte ttl = ip.Ttl;
        // The TTL as it was before forwarding: the kernel adds one when there is an output device and no local socket.
        if (!state.LocallyGenerated && state.Hook is Hook.Forward or Hook.Postrouting) ttl++;
        long now = state.Now.Nanoseconds;
        bool ret = m.Negated;
        var e = table.Find(key);
        if (e is not null && m.CheckTtl && !(e.Ttl == ttl || ttl == 0 || e.Ttl == 0)) e = null;
        if (e is null)
        {
            if (m.Command != RecentCommand.Set) return ret;
            table.Add(key, ttl, now);
            return !ret;
        }
        switch (m.Command)
        {
            case RecentCommand.Set:
                ret = !ret;
                break;
            case RecentCommand.Remove:
                table.Remove(e);
                return !ret;
            default:
                long since = now - (long)m.Seconds * 1_000_000_000L;
                int hits = 0;
                for (int i = 0; i < e.Count; i++)
                {
                    if (m.Seconds != 0 && e.Ring[i] < since) continue;
                    if (m.HitCount == 0 || ++hits >= m.HitCount) { ret = !ret; break; }
                }
                if (m.Reap && table.LeastRecent is { } oldest
                    && !(oldest == e && m.Command == RecentCommand.Update && ret)
                    && oldest.Last < since)
                    table.Remove(oldest);
                break;
        }
        if (m.Command == RecentCommand.Set || (m.Command == RecentCommand.Update && ret))
        {
            table.Touch(e, now);
            e.Ttl = ttl;
        }
        return ret;
    }
}
