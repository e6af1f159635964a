using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>-j TTL (IPv4) and -j HL (IPv6): set, increment (capped at 255) or decrement (floored at 0); continues.</summary>
public sealed class TtlTargetEvaluator(TtlOperation operation, byte value) : TargetEvaluator
{
    public static TargetEvaluator Create(TtlTarget t, Matches.CompileContext c) => new TtlTargetEvaluator(t.Operation, t.Value);

    public static TargetEvaluator CreateHl(HlTarget t, Matches.CompileContext c) => new TtlTargetEvaluator(t.Operation, t.Value);

    public override TargetVerdict Execute(PacketState state)
    {
        int ttl = state.Ip.Ttl;
        int next = operation switch
        {
            TtlOperation.Set => value,
            TtlOperation.Increment => Math.Min(255, ttl + value),
            _ => Math.Max(0, ttl - value),
        };
        state.Rewrite(HeaderRewrite.WithTtl(state.Packet, (byte)next));
        return TargetVerdict.Continue;
    }
}
