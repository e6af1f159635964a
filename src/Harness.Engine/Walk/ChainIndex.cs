using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Walk;

/// <summary>
/// The compiled walk of a long chain: rules are split by one exact key (destination address, protocol + destination
/// port, in-interface, or protocol) that they require; a packet's candidates are the rules with its key plus the rules
/// that require no key, merged in rule order, so first-match order is kept exactly. Rules the index cannot rule out are
/// always candidates; a candidate still runs its full test.
/// </summary>
public sealed class ChainIndex
{
    /// <summary>Chains shorter than this are walked rule by rule.</summary>
    public const int MinimumRules = 12;

    private const long MaxMergedEntries = 4_000_000;

    private readonly IndexKind _kind;
    private readonly Dictionary<UInt128, int[]>? _byNumber;
    private readonly Dictionary<string, int[]>? _byName;
    private readonly int[] _unkeyed;

    private ChainIndex(IndexKind kind, Dictionary<UInt128, int[]>? byNumber, Dictionary<string, int[]>? byName, int[] unkeyed)
    {
        _kind = kind;
        _byNumber = byNumber;
        _byName = byName;
        _unkeyed = unkeyed;
    }

    public IndexKind Kind => _kind;

    /// <summary>How many distinct keys the index holds.</summary>
    public int KeyCount => _byNumber?.Count ?? _byName?.Count ?? 0;

    /// <summary>Rule positions (0-based, ascending) that may match the packet; null: every rule.</summary>
    public int[]? Candidates(PacketState state)
    {
        switch (_kind)
        {
            case IndexKind.Destination:
                return _byNumber!.TryGetValue(state.Ip.Destination.Value, out var d) ? d : _unkeyed;
            case IndexKind.DestinationPort:
                // A short transport header: rules keyed by a port may still read it or drop the packet; walk them all.
                if (state.Packet.TransportError is not null || state.Ip.LegacyL4Protocol < 0) return null;
                var key = PortKey(state.Packet);
                return key is { } k && _byNumber!.TryGetValue(k, out var p) ? p : _unkeyed;
            case IndexKind.Protocol:
                // iptables-legacy's IPv6 -p walks through AH (and a failed walk drops at the first -p rule, keyed or not: walk them all).
                int protocol = state.Runtime.Backend == IptablesBackend.Legacy ? state.Ip.LegacyL4Protocol : state.Ip.MetaL4Protocol;
                if (protocol < 0) return state.Runtime.Backend == IptablesBackend.Legacy ? null : _unkeyed;
                return _byNumber!.TryGetValue((UInt128)protocol, out var pr) ? pr : _unkeyed;
            default:
                return state.InInterface is { } name && _byName!.TryGetValue(name, out var n) ? n : _unkeyed;
        }
    }

    private static UInt128? PortKey(Packet packet)
    {
        if (packet.Ip!.IsLaterFragment) return null;
        return packet.Transport switch
        {
            TcpHeader t => ((UInt128)packet.Ip.Protocol << 16) | t.DestinationPort,
            UdpHeader u => ((UInt128)packet.Ip.Protocol << 16) | u.DestinationPort,
            SctpHeader s => ((UInt128)packet.Ip.Protocol << 16) | s.DestinationPort,
            _ => null,
        };
    }

    /// <summary>Builds the best index for the chain, or null when no key leaves few enough unkeyed rules.</summary>
    public static ChainIndex? Build(CompiledChain chain)
    {
        var rules = chain.Rules;
        if (rules.Length < MinimumRules) return null;
        (IndexKind Kind, int Unkeyed, int Keys)? best = null;
        foreach (var kind in Enum.GetValues<IndexKind>())
        {
            int unkeyed = 0;
            var keys = new HashSet<object>();
            foreach (var r in rules)
            {
                var k = KeyOf(kind, r);
                if (k is null) unkeyed++; else keys.Add(k);
            }
            if (keys.Count < 2) continue;
            if ((long)keys.Count * unkeyed > MaxMergedEntries) continue;
            // Average candidates per keyed packet: unkeyed + rules per key.
            double cost = unkeyed + (double)(rules.Length - unkeyed) / keys.Count;
            if (cost > rules.Length / 2.0) continue;
            if (best is null || cost < best.Value.Unkeyed + (double)(rules.Length - best.Value.Unkeyed) / best.Value.Keys)
                best = (kind, unkeyed, keys.Count);
        }
        if (best is null) return null;
        return Create(best.Value.Kind, rules);
    }

    private static ChainIndex Create(IndexKind kind, CompiledRule[] rules)
    {
        var unkeyed = new List<int>();
        var keyed = new Dictionary<object, List<int>>();
        var keyOrder = new List<object>();
        foreach (var r in rules)
        {
            var k = KeyOf(kind, r);
            if (k is null) { unkeyed.Add(r.Index); continue; }
            if (!keyed.TryGetValue(k, out var list)) { keyed[k] = list = []; keyOrder.Add(k); }
            list.Add(r.Index);
        }
        int[] unkeyedArray = [.. unkeyed];
        if (kind == IndexKind.InInterface)
        {
            var byName = new Dictionary<string, int[]>(StringComparer.Ordinal);
            foreach (var k in keyOrder) byName[(string)k] = Merge(keyed[k], unkeyedArray);
            return new ChainIndex(kind, null, byName, unkeyedArray);
        }
        var byNumber = new Dictionary<UInt128, int[]>();
        foreach (var k in keyOrder) byNumber[(UInt128)k] = Merge(keyed[k], unkeyedArray);
        return new ChainIndex(kind, byNumber, null, unkeyedArray);
    }

    private static int[] Merge(List<int> a, int[] b)
    {
        var result = new int[a.Count + b.Length];
        int i = 0, j = 0, n = 0;
        while (i < a.Count || j < b.Length)
            result[n++] = j >= b.Length || (i < a.Count && a[i] < b[j]) ? a[i++] : b[j++];
        return result;
    }

    private static object? KeyOf(IndexKind kind, CompiledRule rule) => kind switch
    {
        IndexKind.Destination => rule.ExactDestination is { } d ? d : null,
        IndexKind.DestinationPort => rule.ExactDestinationPort is { } p ? ((UInt128)p.Protocol << 16) | p.Port : null,
        IndexKind.Protocol => rule.ExactProtocol is { } pr ? (UInt128)pr : null,
        _ => rule.ExactInInterface,
    };
}

/// <summary>The key a chain index splits rules by.</summary>
public enum IndexKind
{
    Destination,
    DestinationPort,
    Protocol,
    InInterface,
}
