using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j REJECT (ipt_REJECT / ip6t_REJECT): drops the packet and answers with the chosen ICMP/ICMPv6 error or a TCP RST
/// (nf_send_unreach / nf_send_reset). The answer is its own packet with its own outcome.
/// </summary>
public sealed class RejectEvaluator(RejectWith with) : TargetEvaluator
{
    public static TargetEvaluator Create(RejectTarget target, Matches.CompileContext context) => new RejectEvaluator(target.With);

    public override TargetVerdict Execute(PacketState state)
    {
        state.Rejected = true;
        var runtime = state.Runtime;
        state.RejectReply = with switch
        {
            RejectWith.TcpReset => Replies.TcpReset(state),
            _ => Replies.IcmpError(state, runtime, IcmpType(state.Family), Code),
        };
        return TargetVerdict.Drop;
    }

    private byte IcmpType(Family family) => family == Family.IPv4 ? (byte)3 : (byte)1;

    private byte Code => with switch
    {
        RejectWith.IcmpNetUnreachable => 0,
        RejectWith.IcmpHostUnreachable => 1,
        RejectWith.IcmpProtoUnreachable => 2,
        RejectWith.IcmpPortUnreachable => 3,
        RejectWith.IcmpNetProhibited => 9,
        RejectWith.IcmpHostProhibited => 10,
        RejectWith.IcmpAdminProhibited => 13,
        RejectWith.Icmp6NoRoute => 0,
        RejectWith.Icmp6AdmProhibited => 1,
        RejectWith.Icmp6AddrUnreachable => 3,
        RejectWith.Icmp6PortUnreachable => 4,
        RejectWith.Icmp6PolicyFail => 5,
        RejectWith.Icmp6RejectRoute => 6,
        _ => 3,
    };
}
