using System.Collections.Immutable;
using System.Globalization;
using Harness.Engine;
using Harness.Golden.Csv;

namespace Harness.Golden.Replay;

/// <summary>How one flow's treatment changed between two rulesets.</summary>
public sealed record FlowChange(string Flow, int Packets, int ChangedPackets, string OldVerdict, string NewVerdict, string OldRule, string NewRule, string OldNat, string NewNat)
{
    /// <summary>"blocked" (accepted before, not now), "unblocked", or "changed" (same verdict, other rule/rewrite/egress).</summary>
    public string Kind => OldVerdict == "ACCEPT" && NewVerdict != "ACCEPT" ? "blocked"
        : OldVerdict != "ACCEPT" && NewVerdict == "ACCEPT" ? "unblocked"
        : "changed";
}

/// <summary>The flows of one traffic sample whose verdict, rewrite, egress or deciding rule differ between two rulesets.</summary>
public sealed record ComparisonReport(int Flows, int Packets, ImmutableArray<FlowChange> Changes)
{
    public int Count(string kind) => Changes.Count(c => c.Kind == kind);

    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"{Changes.Length} of {Flows} flows changed ({Packets} packets compared): {Count("blocked")} would be blocked, {Count("unblocked")} would be let through, {Count("changed")} treated differently");
}

public static class RulesetComparison
{
    /// <summary>
    /// Pairs the outcomes of the same packets replayed through two rulesets (same order: outcome i of each run
    /// belongs to the same input packet) and groups the differing ones by flow: the conntrack original tuple of the
    /// old run (or the packet's own addresses when conntrack had none).
    /// </summary>
    public static ComparisonReport Compare(IReadOnlyList<Outcome> oldRun, IReadOnlyList<Outcome> newRun)
    {
        var oldByPacket = Primary(oldRun);
        var newByPacket = new Dictionary<long, Outcome>();
        foreach (var (number, o) in Primary(newRun)) newByPacket.TryAdd(number, o);
        var flows = new Dictionary<string, List<(Outcome Old, Outcome? New)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (number, o) in oldByPacket)
        {
            var key = FlowKey(o);
            if (!flows.TryGetValue(key, out var list))
            {
                flows[key] = list = [];
                order.Add(key);
            }
            list.Add((o, newByPacket.GetValueOrDefault(number)));
        }
        var changes = ImmutableArray.CreateBuilder<FlowChange>();
        foreach (var key in order)
        {
            var pairs = flows[key];
            var changed = pairs.Where(p => p.New is null || Treatment(p.Old) != Treatment(p.New)).ToList();
            if (changed.Count == 0) continue;
            var (o, n) = changed[0];
            changes.Add(new FlowChange(key, pairs.Count, changed.Count,
                OutcomeProjection.Verdict(o.Verdict), n is null ? "(none)" : OutcomeProjection.Verdict(n.Verdict),
                o.DecidingRule ?? "", n?.DecidingRule ?? "", o.Conntrack?.Nat ?? "", n?.Conntrack?.Nat ?? ""));
        }
        return new ComparisonReport(order.Count, oldByPacket.Count, changes.ToImmutable());
    }

    private static List<(long Number, Outcome Outcome)> Primary(IReadOnlyList<Outcome> run) =>
        run.Where(o => !o.Generated).Select(o => (o.PacketNumber, o)).ToList();

    private static string Treatment(Outcome o) =>
        $"{o.Verdict}|{o.DecidingRule}|{o.Conntrack?.Nat}|{o.OutInterface}|{o.Packet.Ip?.Source}|{o.Packet.Ip?.Destination}|{OutcomeProjection.Ports(o.Packet.Transport)}";

    private static string FlowKey(Outcome o)
    {
        if (o.Conntrack?.Original is { } t)
            return string.Create(CultureInfo.InvariantCulture, $"{ProtoName(t.Protocol)} {t.Source}:{t.SourcePort} -> {t.Destination}:{t.DestinationPort}");
        var p = o.Packet;
        var (sport, dport) = OutcomeProjection.Ports(p.Transport);
        return $"{OutcomeProjection.Protocol(p)} {p.Ip?.Source}:{sport} -> {p.Ip?.Destination}:{dport}";
    }

    private static string ProtoName(byte p) => p switch
    {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        132 => "sctp",
        _ => p.ToString(CultureInfo.InvariantCulture),
    };
}
