using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m hashlimit (xt_hashlimit revision 3, packet mode): one token bucket per key (source/destination address masked to
/// the given prefixes, ports) on the capture's clock; a packet costs Average/1,000,000 s, the bucket holds Burst
/// packets and starts full; an entry idle longer than --hashlimit-htable-expire is forgotten (full again).
/// upto: match while tokens are left; above: match when they are not. Byte mode and --hashlimit-rate-match are refused.
/// Tables are shared by every rule naming the same --hashlimit-name, as in the kernel.
/// </summary>
public sealed class HashlimitEvaluator : MatchEvaluator
{
    private readonly HashlimitMatch _m;
    private readonly Dictionary<Key, Bucket> _buckets;
    private readonly long _costNs, _capacityNs, _expireNs;

    private HashlimitEvaluator(HashlimitMatch m, Dictionary<Key, Bucket> buckets)
    {
        _m = m;
        _buckets = buckets;
        _costNs = checked((long)m.Average * 1000);
        _capacityNs = _costNs * (long)Math.Max(1UL, m.Burst);
        _expireNs = (long)m.ExpireMs * 1_000_000;
    }

    public static MatchEvaluator Create(HashlimitMatch m, CompileContext c)
    {
        if (m.ByteMode) throw c.Error("hashlimit byte mode (--hashlimit-upto/above N b/s) is not modelled");
        if (m.RateMatch) throw c.Error("hashlimit --hashlimit-rate-match is not modelled");
        var tables = c.Runtime.RecentTables;
        var name = "hashlimit:" + m.Family + ":" + m.TableName;
        if (!tables.TryGetValue(name, out var shared)) tables[name] = shared = new Dictionary<Key, Bucket>();
        return new HashlimitEvaluator(m, (Dictionary<Key, Bucket>)shared);
    }

    public override bool Matches(PacketState state)
    {
        var key = KeyOf(state);
        long now = state.Now.Nanoseconds;
        if (!_buckets.TryGetValue(key, out var b) || now - b.LastNs > _expireNs)
            _buckets[key] = b = new Bucket { TokensNs = _capacityNs, LastNs = now };
        else if (now > b.LastNs)
        {
            b.TokensNs = Math.Min(_capacityNs, b.TokensNs + (now - b.LastNs));
            b.LastNs = now;
        }
        bool allowed = b.TokensNs >= _costNs;
        if (allowed) b.TokensNs -= _costNs;
        return _m.Above ? !allowed : allowed;
    }

    private Key KeyOf(PacketState state)
    {
        var ip = state.Ip;
        var modes = _m.Modes;
        UInt128 src = 0, dst = 0;
        if ((modes & HashlimitModes.SourceIp) != 0) src = ip.Source.Value & new Cidr(ip.Source, Math.Min(_m.SourcePrefixLength, ip.Source.BitLength)).Mask;
        if ((modes & HashlimitModes.DestinationIp) != 0) dst = ip.Destination.Value & new Cidr(ip.Destination, Math.Min(_m.DestinationPrefixLength, ip.Destination.BitLength)).Mask;
        ushort sp = 0, dp = 0;
        if ((modes & (HashlimitModes.SourcePort | HashlimitModes.DestinationPort)) != 0 && !ip.IsLaterFragment)
        {
            (sp, dp) = state.Packet.Transport switch
            {
                TcpHeader t => (t.SourcePort, t.DestinationPort),
                UdpHeader u => (u.SourcePort, u.DestinationPort),
                SctpHeader s => (s.SourcePort, s.DestinationPort),
                _ => ((ushort)0, (ushort)0),
            };
            if ((modes & HashlimitModes.SourcePort) == 0) sp = 0;
            if ((modes & HashlimitModes.DestinationPort) == 0) dp = 0;
        }
        return new Key(src, dst, sp, dp, (modes & (HashlimitModes.SourcePort | HashlimitModes.DestinationPort)) != 0 ? ip.Protocol : (byte)0);
    }

    private readonly record struct Key(UInt128 Source, UInt128 Destination, ushort SourcePort, ushort DestinationPort, byte Protocol);

    private sealed class Bucket
    {
        public long TokensNs;
        public long LastNs;
    }
}
