using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j CT and -j NOTRACK (raw table): attach the conntrack template (untracked, zone, helper) the conntrack step uses;
/// continue. As in xt_ct_target, only the first CT/NOTRACK target a packet meets counts: later ones leave its template
/// alone. A zone with a direction (--zone-orig / --zone-reply) applies to that direction's tuple only; "--zone mark"
/// takes the packet's mark when conntrack runs (<see cref="CtTemplate.AtConntrack"/>). --ctevents/--expevents only
/// filter ctnetlink events and change nothing a packet sees. "--timeout NAME" attaches the host's timeout policy NAME
/// (conntrack-timeouts) to the connections the template creates; as xt_ct_set_timeout does, the rule is refused when
/// the host has no such policy, when the rule has no -p (or an inverted one), or when the policy is for another family
/// or another tracker than the rule's protocol uses. Helpers other than the modelled ones are refused too, and so is a
/// helper on a rule without its protocol (-p tcp for ftp/irc, -p udp for tftp/netbios-ns, not inverted) or in a family it
/// does not exist for (netbios-ns in ip6tables), as xt_ct_set_helper refuses them (No such file or directory).
/// </summary>
public sealed class CtTargetEvaluator(CtTemplate template) : TargetEvaluator
{
    public static TargetEvaluator Create(CtTarget t, Matches.CompileContext context)
    {
        var timeouts = t.Timeout is { } name && !t.NoTrack ? Policy(name, context) : null;
        if (t.Helper is { } h && !CtTemplate.IsSupportedHelper(h))
            throw context.Error($"CT --helper {h}: conntrack helper \"{h}\" is not modelled (supported: {string.Join(", ", CtTemplate.SupportedHelpers)})");
        if (t.Helper is { } hn && !t.NoTrack
            && (context.Rule.Ip.Protocol is not { Negated: false } p || p.Value != CtTemplate.HelperProtocol(hn) || !CtTemplate.HelperHasFamily(hn, context.Family)))
            throw context.Error($"CT --helper {hn}: the rule must name the helper's protocol with -p {(CtTemplate.HelperProtocol(hn) == Harness.Net.IpProtocol.Tcp ? "tcp" : "udp")}, not inverted{(CtTemplate.HelperHasFamily(hn, context.Family) ? "" : ", and the helper exists for IPv4 only")} (the kernel finds no such helper and refuses the rule: No such file or directory)");
        var template = new CtTemplate(t.NoTrack, t.Zone, null, t.ZoneDirection, t.ZoneFromMark, Attached: true, timeouts);
        if (t.Helper is not null) template = template.WithHelper(t.Helper);
        return new CtTargetEvaluator(template);
    }

    /// <summary>The policy "--timeout <paramref name="name"/>" names, checked against the rule as the kernel checks it.</summary>
    private static CtTimeoutPolicy Policy(string name, Matches.CompileContext context)
    {
        var runtime = context.Runtime;
        var policy = runtime.Host.FindConntrackTimeout(name)
            ?? throw context.Error($"CT --timeout {name}: the host defines no conntrack timeout policy \"{name}\" (add it under conntrack-timeouts; the kernel refuses the rule: No such file or directory)");
        if (context.Rule.Ip.Protocol is not { Negated: false, Value: not 0 } proto)
            throw context.Error($"CT --timeout {name}: the rule must name a protocol with -p, not inverted (the kernel refuses the rule: Invalid argument)");
        string fam = policy.Family == Harness.Net.Family.IPv4 ? "inet" : "inet6";
        if (policy.Family != context.Family)
            throw context.Error($"CT --timeout {name}: the policy is for family {fam}, the rule is {(context.Family == Harness.Net.Family.IPv4 ? "IPv4" : "IPv6")} (the kernel refuses the rule: Invalid argument)");
        if (CtTimeoutPolicy.TrackerOf(proto.Value) != policy.Protocol)
            throw context.Error($"CT --timeout {name}: the policy is for protocol {policy.ProtocolName}, the rule's -p {proto.Value} is not (the kernel refuses the rule: Invalid argument)");
        return CtTimeoutPolicy.From(policy, runtime.Conntrack.Settings);
    }

    public static TargetEvaluator CreateNoTrack(NoTrackTarget t, Matches.CompileContext context) =>
        new CtTargetEvaluator(new CtTemplate(NoTrack: true, Attached: true));

    public override TargetVerdict Execute(PacketState state)
    {
        if (!state.Template.Attached) state.Template = template;
        return TargetVerdict.Continue;
    }
}
