using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j CT and -j NOTRACK (raw table): set what conntrack does with the packet next (untracked, zone, helper);
/// continue. --ctevents/--expevents only filter ctnetlink events and change nothing a packet sees.
/// Timeout policies, per-direction zones and helpers other than the modelled ones are refused at construction.
/// </summary>
public sealed class CtTargetEvaluator(bool noTrack, ushort zone, bool zoneFromMark, string? helper) : TargetEvaluator
{
    public static TargetEvaluator Create(CtTarget t, Matches.CompileContext context)
    {
        if (t.Timeout is not null) throw context.Error($"CT --timeout {t.Timeout}: timeout policies are not modelled");
        if (t.ZoneDirection != CtZoneDirection.Both) throw context.Error("CT --zone-orig/--zone-reply: per-direction zones are not modelled");
        if (t.Helper is { } h && !CtTemplate.IsSupportedHelper(h))
            throw context.Error($"CT --helper {h}: conntrack helper \"{h}\" is not modelled (supported: {string.Join(", ", CtTemplate.SupportedHelpers)})");
        return new CtTargetEvaluator(t.NoTrack, t.Zone, t.ZoneFromMark, t.Helper);
    }

    public static TargetEvaluator CreateNoTrack(NoTrackTarget t, Matches.CompileContext context) => new CtTargetEvaluator(true, 0, false, null);

    public override TargetVerdict Execute(PacketState state)
    {
        var template = state.Template;
        if (noTrack) template = template with { NoTrack = true };
        if (zone != 0 || zoneFromMark) template = template with { Zone = zoneFromMark ? (ushort)state.Mark : zone };
        if (helper is not null) template = template.WithHelper(helper);
        state.Template = template;
        return TargetVerdict.Continue;
    }
}
