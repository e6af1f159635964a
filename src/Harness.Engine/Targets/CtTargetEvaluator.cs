using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j CT and -j NOTRACK (raw table): attach the conntrack template (untracked, zone, helper) the conntrack step uses;
/// continue. As in xt_ct_target, only the first CT/NOTRACK target a packet meets counts: later ones leave its template
/// alone. A zone with a direction (--zone-orig / --zone-reply) applies to that direction's tuple only; "--zone mark"
/// takes the packet's mark when conntrack runs (<see cref="CtTemplate.AtConntrack"/>). --ctevents/--expevents only
/// filter ctnetlink events and change nothing a packet sees. Timeout policies and helpers other than the modelled ones
/// are refused at construction.
/// </summary>
public sealed class CtTargetEvaluator(CtTemplate template) : TargetEvaluator
{
    public static TargetEvaluator Create(CtTarget t, Matches.CompileContext context)
    {
        if (t.Timeout is not null) throw context.Error($"CT --timeout {t.Timeout}: timeout policies are not modelled");
        if (t.Helper is { } h && !CtTemplate.IsSupportedHelper(h))
            throw context.Error($"CT --helper {h}: conntrack helper \"{h}\" is not modelled (supported: {string.Join(", ", CtTemplate.SupportedHelpers)})");
        var template = new CtTemplate(t.NoTrack, t.Zone, null, t.ZoneDirection, t.ZoneFromMark, Attached: true);
        if (t.Helper is not null) template = template.WithHelper(t.Helper);
        return new CtTargetEvaluator(template);
    }

    public static TargetEvaluator CreateNoTrack(NoTrackTarget t, Matches.CompileContext context) =>
        new CtTargetEvaluator(new CtTemplate(NoTrack: true, Attached: true));

    public override TargetVerdict Execute(PacketState state)
    {
        if (!state.Template.Attached) state.Template = template;
        return TargetVerdict.Continue;
    }
}
