using Harness.Engine.Conntrack;
using Harness.Engine.Walk;
using Harness.Rules;

namespace Harness.Engine;

public sealed partial class Engine
{
    /// <summary>The connection tracking table (entries, NAT bindings) after the packets processed so far.</summary>
    public ConntrackTable Conntrack => _runtime.Conntrack;

    /// <summary>
    /// The conntrack step of PREROUTING and OUTPUT (priority -200). A packet coming back in through lo keeps the
    /// entry it got on the way out, as the kernel keeps skb->_nfct. Returns a drop reason when conntrack dropped it.
    /// </summary>
    private readonly CtPacket _ctScratch = CtPacket.Untracked(Hook.Prerouting, default);

    private string? TrackConnection(PacketState s)
    {
        if (s.Conntrack is not null) return null;
        // The captured packet's CtPacket is one object reused from packet to packet (an outcome keeps only its view).
        var reuse = s.IsGeneratedPacket ? null : _ctScratch;
        var ct = _runtime.Conntrack.Process(s.Packet, s.Hook, s.RawTemplateIgnored ? null : s.Template.AtConntrack(s.Mark), reuse);
        s.Conntrack = ct;
        return ct.DropReason;
    }

    /// <summary>
    /// The nat table at one hook: its chain is walked only for a connection whose binding for this manip is not set
    /// up yet (its first packet); no NAT rule means a null binding. Then every tracked packet is rewritten from the binding.
    /// Nothing at all when the family's ruleset has no nat table (no NAT hooks, as in the kernel).
    /// </summary>
    private bool RunNat(PacketState s, CompiledRuleset? rules, Hook hook, bool source, out Outcome? stop)
    {
        stop = null;
        if (rules is not { HasNat: true } || s.Conntrack is not { Entry: not null } ct) return true;
        var manip = source ? NatManipType.Source : NatManipType.Destination;
        var table = _runtime.Conntrack;
        if (table.NeedsNat(ct, manip))
        {
            var chain = rules?.Builtin(2, hook);
            if (chain is not null && !WalkTable(s, chain, out stop)) return false;
            if (table.NeedsNat(ct, manip)) table.SetupNullBinding(ct, manip);
        }
        var rewritten = table.ApplyNat(ct, s.Packet, manip, s.OwnBytes());
        if (!ReferenceEquals(rewritten, s.Packet))
        {
            s.RewriteOwned(rewritten);
            if (hook == Hook.Output) Reroute(s);
        }
        return true;
    }

    /// <summary>Confirms the entry at the end of INPUT / POSTROUTING; a drop reason when it cannot be inserted.</summary>
    private string? ConfirmConntrack(PacketState s)
    {
        if (s.Conntrack is not { } ct) return null;
        // the broadcast helpers (netbios-ns, snmp) act on a locally generated packet with a broadcast route (RTCF_BROADCAST)
        // and look at the addresses of that route's device (the device it leaves by)
        IReadOnlyList<Harness.Hosts.InterfaceAddress>? outAddresses = ct.Entry?.Helper is "netbios-ns" or "snmp" && s.LocallyGenerated
            && s.Route is { Kind: Routing.RouteKind.Broadcast, Device: { } o } && _runtime.Host.FindInterface(o) is { } device ? device.Addresses : null;
        // no sequence adjustment for a packet received on a loopback device (nf_is_loopback_packet: skb_iif set, skb->dev
        // lo); on its way out through lo (POSTROUTING) it is adjusted (measured)
        bool loopback = s.Hook == Hook.Input && _runtime.Interface(s.InInterface) is { IsLoopback: true };
        var packet = s.Packet;
        if (!_runtime.Conntrack.Confirm(ct, ref packet, outAddresses, loopback)) return ct.DropReason ?? "conntrack: confirmation failed";
        if (!ReferenceEquals(packet, s.Packet)) s.Rewrite(packet); // a NAT helper's payload rewrite, sequence adjustment
        return null;
    }

    private static ConntrackView? ConntrackView(PacketState s) => s.Conntrack?.ToView();
}
