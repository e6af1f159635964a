using System.Collections.Immutable;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m set --match-set NAME src,dst… (xt_set): the packet's fields, one per set dimension and taken from the source or
/// destination as the flags say, are looked up in the ipset as it is now (the case's sets, changed by -j SET, entries
/// expired on the capture clock). The set must exist when the engine is built. In a set with counters the member found
/// counts the packet (its IP length) unless ! --update-counters, then --packets-*/--bytes-* test the counts (a failed
/// test means "not in the set", so `! --match-set` then matches); in a set without counters the tests are ignored, as
/// in the kernel. --update-subcounters concerns list:set only. A packet without a value for a dimension (no ports) is
/// not in the set.
/// </summary>
public sealed class SetEvaluator(SetMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(SetMatch m, CompileContext c)
    {
        CheckSet(c, m.SetName, m.Directions);
        return new SetEvaluator(m);
    }

    /// <summary>The checks a set reference needs when the engine is built (exists, family, enough directions).</summary>
    public static IpSet CheckSet(CompileContext c, string name, ImmutableArray<bool> directions)
    {
        var set = c.Runtime.Sets.Find(name)
            ?? throw c.Error($"ipset \"{name}\" is not among the case's ipsets (give them with the case's ipset file)");
        if (directions.Length < set.Dimensions.Length)
            throw c.Error($"ipset \"{name}\" has {set.Dimensions.Length} dimensions but the rule gives {directions.Length} directions");
        if (set.Family != c.Family) throw c.Error($"ipset \"{name}\" is {set.Family}, the rule is {c.Family}");
        return set;
    }

    public override bool Matches(PacketState state)
    {
        var set = state.Runtime.LiveSets[m.SetName];
        bool member = ProbeOf(state, set.Definition, m.Directions) is { } probe &&
            set.Test(probe, state.Now, (ulong)state.Ip.TotalLength, !m.NoUpdateCounters, m.Packets, m.Bytes);
        return member ^ m.Negated;
    }

    /// <summary>
    /// The packet's values for the set's dimensions (host addresses, protocol:port), each from the source or the
    /// destination as <paramref name="directions"/> say; null when the packet has no value for a dimension.
    /// </summary>
    public static IpSetEntry? ProbeOf(PacketState state, IpSet set, ImmutableArray<bool> directions)
    {
        var ip = state.Ip;
        var nets = ImmutableArray.CreateBuilder<Cidr>(set.Dimensions.Length);
        byte protocol = 0;
        ushort port = 0;
        for (int i = 0; i < set.Dimensions.Length; i++)
        {
            bool src = directions[i];
            if (set.Dimensions[i] == IpSetDimension.Address)
            {
                nets.Add(Cidr.Host(src ? ip.Source : ip.Destination));
                continue;
            }
            if (ip.IsLaterFragment) return null;
            (protocol, port) = state.Packet.Transport switch
            {
                TcpHeader t => (IpProtocol.Tcp, src ? t.SourcePort : t.DestinationPort),
                UdpHeader u => (IpProtocol.Udp, src ? u.SourcePort : u.DestinationPort),
                SctpHeader s => (IpProtocol.Sctp, src ? s.SourcePort : s.DestinationPort),
                _ => ((byte)0, (ushort)0),
            };
            if (protocol == 0) return null;
        }
        return new IpSetEntry(nets.ToImmutable(), protocol, port);
    }
}
