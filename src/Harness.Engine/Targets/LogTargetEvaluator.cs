using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j LOG: appends the kernel's log line for the packet as it is now (prefix, interfaces, headers, with
/// --log-tcp-sequence, --log-tcp-options, --log-ip-options, --log-uid and --log-macdecode); continues.
/// </summary>
public sealed class LogTargetEvaluator(LogTarget target) : TargetEvaluator
{
    public static TargetEvaluator Create(LogTarget target, Matches.CompileContext context) => new LogTargetEvaluator(target);

    public override TargetVerdict Execute(PacketState state)
    {
        state.AddLog(LogFormatter.Format(target.Prefix, state.Packet, state.InInterface, state.OutInterface, state.Mark,
            target.Flags.HasFlag(LogFlags.TcpSequence), target.Flags.HasFlag(LogFlags.TcpOptions), target.Flags.HasFlag(LogFlags.IpOptions),
            target.Flags.HasFlag(LogFlags.Uid) ? state.Owner : null,
            target.Flags.HasFlag(LogFlags.MacDecode), state.Runtime.Interface(state.InInterface) is not { IsLoopback: true }));
        return TargetVerdict.Continue;
    }
}
