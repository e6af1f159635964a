using System.Collections.Immutable;
using Harness.Engine.Conntrack;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// Drives a <see cref="ConntrackTable"/> the way the engine does for a forwarded packet (PREROUTING conntrack →
/// nat dst → FORWARD → nat src → confirm), with the nat "rules" given as functions returning a range (or null: no rule
/// matched, null binding). Lets the scenarios run at the conntrack API level, without the engine.
/// </summary>
internal sealed class Router(ConntrackTable table)
{
    public ConntrackTable Table { get; } = table;

    public Func<Packet, NatRange?> Dnat { get; init; } = _ => null;

    public Func<Packet, NatRange?> Snat { get; init; } = _ => null;

    public sealed record Result(CtPacket Ct, Packet Out, bool Confirmed);

    public Result Forward(Packet p)
    {
        var ct = Table.Process(p, Hook.Prerouting);
        if (ct.DropReason is not null) return new Result(ct, p, false);
        p = NatStep(ct, p, NatManipType.Destination, Dnat);
        p = NatStep(ct, p, NatManipType.Source, Snat);
        var confirmed = Table.Confirm(ct, p);
        return new Result(ct, p, confirmed);
    }

    private Packet NatStep(CtPacket ct, Packet p, NatManipType manip, Func<Packet, NatRange?> rule)
    {
        if (Table.NeedsNat(ct, manip))
        {
            if (rule(p) is { } range) Table.SetupNat(ct, manip, range);
            else Table.SetupNullBinding(ct, manip);
        }
        return Table.ApplyNat(ct, p, manip);
    }

    public static NatRange To(string address, ushort? port = null) =>
        new(Address.Parse(address), Address.Parse(address), port, port);

    public static HostInterface Interface(string name, params string[] cidrs) => new(
        name, 2, new MacAddress(0x02_00_00_00_00_02),
        [.. cidrs.Select(c => { Cidr.TryParse(c, out var x); return new InterfaceAddress(x.Address, x.PrefixLength); })]);
}
