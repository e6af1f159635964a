using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m sctp (xt_sctp): ports, and --chunk-types any/all/only against the packet's chunk types. Chunk flag tests are
/// refused (the packet model keeps chunk types only). Never a non-first fragment.
/// </summary>
public sealed class SctpEvaluator(SctpMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(SctpMatch m, CompileContext c)
    {
        if (m.ChunkTypes is { } ct && ct.Value.Chunks.Any(x => x.FlagMask != 0))
            throw c.Error("sctp --chunk-types with chunk flags is not modelled");
        return new SctpEvaluator(m);
    }

    public override (byte Protocol, ushort Port)? ExactDestinationPort =>
        m.DestinationPorts is { Negated: false } d && d.Value.IsSingle ? (IpProtocol.Sctp, d.Value.First) : null;

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment || state.Packet.Transport is not SctpHeader sctp) return false;
        if (m.SourcePorts is { } s && !s.Apply(s.Value.Contains(sctp.SourcePort))) return false;
        if (m.DestinationPorts is { } d && !d.Apply(d.Value.Contains(sctp.DestinationPort))) return false;
        if (m.ChunkTypes is { } c)
        {
            var wanted = c.Value.Chunks.Select(x => x.Type).ToHashSet();
            var present = sctp.ChunkTypes;
            bool hit = c.Value.Mode switch
            {
                SctpChunkMatch.Any => present.Any(wanted.Contains),
                SctpChunkMatch.All => wanted.All(present.Contains),
                _ => present.All(wanted.Contains),
            };
            if (!c.Apply(hit)) return false;
        }
        return true;
    }
}
