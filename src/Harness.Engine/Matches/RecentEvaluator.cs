using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m recent (xt_recent): named lists of addresses (source, or destination with --rdest, masked) with their last 20
/// hit times on the capture's clock, shared by every rule naming the list. --set adds/refreshes and matches;
/// --rcheck/--update match when the address is listed (within --seconds, with at least --hitcount hits, with the same
/// TTL for --rttl); --update then records a hit; --remove deletes and matches. --reap drops stamps older than --seconds.
/// </summary>
public sealed class RecentEvaluator(RecentMatch m, Dictionary<(Family, UInt128), RecentEvaluator.Entry> list) : MatchEvaluator
{
    /// <summary>ip_pkt_list_tot: how many hit times an entry keeps.</summary>
    public const int StampsKept = 20;

    public sealed class Entry
    {
        public readonly List<long> Stamps = [];
        public byte Ttl;
    }

    public static MatchEvaluator Create(RecentMatch m, CompileContext c)
    {
        var name = "recent:" + m.ListName;
        if (!c.Runtime.RecentTables.TryGetValue(name, out var shared))
            c.Runtime.RecentTables[name] = shared = new Dictionary<(Family, UInt128), Entry>();
        return new RecentEvaluator(m, (Dictionary<(Family, UInt128), Entry>)shared);
    }

    public override bool Matches(PacketState state)
    {
        var ip = state.Ip;
        var address = m.UseDestination ? ip.Destination : ip.Source;
        var key = (address.Family, address.Value & (m.Mask.Family == address.Family ? m.Mask.Value : UInt128.MaxValue));
        byte ttl = ip.Ttl;
        if (state.LocallyGenerated && state.InInterface is null && state.Hook is Hook.Output or Hook.Postrouting) ttl++;
        long now = state.Now.Nanoseconds;
        bool ret = m.Negated;
        list.TryGetValue(key, out var e);
        if (e is not null && m.CheckTtl && e.Ttl != ttl) e = null;
        if (e is null)
        {
            if (m.Command != RecentCommand.Set) return ret;
            e = new Entry { Ttl = ttl };
            e.Stamps.Add(now);
            list[key] = e;
            return !ret;
        }
        switch (m.Command)
        {
            case RecentCommand.Set:
                ret = !ret;
                break;
            case RecentCommand.Remove:
                list.Remove(key);
                return !ret;
            default:
                if (m.Seconds != 0 || m.HitCount != 0)
                {
                    long since = now - (long)m.Seconds * 1_000_000_000L;
                    int hits = 0;
                    foreach (var stamp in e.Stamps)
                    {
                        if (m.Seconds != 0 && stamp < since) continue;
                        if (m.HitCount == 0 || ++hits >= m.HitCount) { ret = !ret; break; }
                    }
                    if (m.Reap) e.Stamps.RemoveAll(s => s < since);
                }
                else
                {
                    ret = !ret;
                }
                break;
        }
        if (m.Command == RecentCommand.Set || (m.Command == RecentCommand.Update && ret != m.Negated))
        {
            e.Stamps.Add(now);
            if (e.Stamps.Count > StampsKept) e.Stamps.RemoveAt(0);
            e.Ttl = ttl;
        }
        return ret;
    }
}
