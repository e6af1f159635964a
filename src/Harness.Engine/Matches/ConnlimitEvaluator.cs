using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m connlimit (xt_connlimit over nf_conncount): per rule, the connections this rule has seen, grouped by the source
/// (or destination) address masked to the prefix. Counting drops connections that left the conntrack table or are
/// closing (TIME_WAIT, CLOSE) and adds the packet's own connection. Above: match when the count exceeds the limit;
/// upto: when it does not.
/// </summary>
public sealed class ConnlimitEvaluator(ConnlimitMatch m) : MatchEvaluator
{
    private readonly Dictionary<(UInt128 Key, ushort Zone), List<ConnTuple>> _lists = [];

    public static MatchEvaluator Create(ConnlimitMatch m, CompileContext c) => new ConnlimitEvaluator(m);

    public override bool Matches(PacketState state)
    {
        var ct = state.Conntrack;
        var tuple = ct?.Entry?.Original ?? TupleOf(state);
        if (tuple is null) return false;
        var address = m.UseDestination ? tuple.Value.Destination : tuple.Value.Source;
        var mask = new Cidr(address, Math.Min(m.PrefixLength, address.BitLength)).Mask;
        var key = (address.Value & mask, ct?.Entry?.Zone ?? 0);
        if (!_lists.TryGetValue(key, out var list)) _lists[key] = list = [];
        var table = state.Runtime.Conntrack;
        list.RemoveAll(t => t != tuple.Value && (table.Find(t, key.Item2, state.Now) is not { } e || e.IsTcpClosed));
        if (!list.Contains(tuple.Value)) list.Add(tuple.Value);
        long count = list.Count;
        return m.Above ? count > m.Limit : count <= m.Limit;
    }

    private static ConnTuple? TupleOf(PacketState state)
    {
        var ip = state.Ip;
        return state.Packet.Transport switch
        {
            Harness.Packets.TcpHeader t => new ConnTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, t.SourcePort, t.DestinationPort),
            Harness.Packets.UdpHeader u => new ConnTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, u.SourcePort, u.DestinationPort),
            _ => new ConnTuple(ip.Family, ip.Protocol, ip.Source, ip.Destination, 0, 0),
        };
    }
}
