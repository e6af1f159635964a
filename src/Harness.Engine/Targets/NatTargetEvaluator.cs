using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// DNAT, SNAT, MASQUERADE, REDIRECT and NETMAP: on a connection's first packet (the only one the nat chains see)
/// they bind the connection through conntrack (nf_nat_setup_info) and accept. The rewrite itself happens after the
/// nat step, from the binding, for this and every later packet of the connection.
/// </summary>
public sealed class NatTargetEvaluator : TargetEvaluator
{
    private readonly Func<PacketState, NatRange?> _range;

    private NatTargetEvaluator(Func<PacketState, NatRange?> range) => _range = range;

    public static TargetEvaluator CreateDnat(DnatTarget t, Matches.CompileContext c) =>
        new NatTargetEvaluator(s => t.Range.HasAddresses ? t.Range : t.Range with { MinAddress = s.Ip.Destination, MaxAddress = s.Ip.Destination });

    public static TargetEvaluator CreateSnat(SnatTarget t, Matches.CompileContext c) =>
        new NatTargetEvaluator(s => t.Range.HasAddresses ? t.Range : t.Range with { MinAddress = s.Ip.Source, MaxAddress = s.Ip.Source });

    public static TargetEvaluator CreateMasquerade(MasqueradeTarget t, Matches.CompileContext c) =>
        new NatTargetEvaluator(s =>
        {
            var iface = s.Runtime.Interface(s.OutInterface);
            if (iface is null) return null;
            var nextHop = s.Route?.Gateway ?? s.Ip.Destination;
            return NatTargets.Masquerade(t.Range, iface, s.Family, nextHop);
        });

    public static TargetEvaluator CreateRedirect(RedirectTarget t, Matches.CompileContext c) =>
        new NatTargetEvaluator(s =>
        {
            var iface = s.Runtime.Interface(s.InInterface);
            return NatTargets.Redirect(t.Range, s.Hook, iface, s.Family);
        });

    public static TargetEvaluator CreateNetmap(NetmapTarget t, Matches.CompileContext c) =>
        new NatTargetEvaluator(s => NatTargets.Netmap(t.To,
            NatTargets.ManipOf(s.Hook) == NatManipType.Destination ? s.Ip.Destination : s.Ip.Source));

    public override TargetVerdict Execute(PacketState state)
    {
        if (state.Conntrack is not { Entry: not null } ct) return TargetVerdict.Accept;
        var manip = NatTargets.ManipOf(state.Hook);
        var table = state.Runtime.Conntrack;
        if (!table.NeedsNat(ct, manip)) return TargetVerdict.Accept;
        var range = _range(state);
        if (range is null) return TargetVerdict.Drop;
        table.SetupNat(ct, manip, range);
        return TargetVerdict.Accept;
    }
}
