using FsCheck;
using FsCheck.Xunit;
using Harness.Engine.Tests.Support;
using Harness.Rules;
using static Harness.Engine.Tests.Support.TestRules;

namespace Harness.Engine.Tests;

/// <summary>The engine's algebra, checked over generated rules and packets (FsCheck shrinks the integers behind them).</summary>
public class PropertyTests
{
    private static List<Outcome> Replay(Ruleset rules, IEnumerable<Harness.Packets.Packet> packets, EngineOptions? options = null) =>
        [.. Engine.Create(rules, null, TestHosts.Router(), options ?? EngineOptions.Default).Replay(packets)];

    private static string RuleTextOf(Ruleset rules, string? id)
    {
        if (id is null) return "";
        var parts = id.Split(':');
        if (parts[2] == "policy") return id;
        var chain = rules.FindTable(parts[0])!.FindChain(parts[1])!;
        var rule = chain.Rules[int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) - 1];
        return $"{rule.Chain}:{rule.Ip}:{string.Join(",", rule.Matches)}:{rule.Target}";
    }

    private static bool SameHeaders(Outcome a, Outcome b) =>
        a.Packet.Ip!.Source == b.Packet.Ip!.Source && a.Packet.Ip.Destination == b.Packet.Ip.Destination
        && a.Packet.Ip.Ttl == b.Packet.Ip.Ttl && a.Packet.Raw.Span.SequenceEqual(b.Packet.Raw.Span);

    [Property(MaxTest = 300, Replay = "20261122,11")]
    public bool Negating_a_match_flips_it(int matchChoice, int packetChoice)
    {
        var (ip, matches) = Decode.Match(matchChoice);
        // Negate exactly one of the present -s/-d/-i/-p tests (a single-test rule), or skip when none is present.
        IpHeaderMatch single, negated;
        if (ip.Source is { } s) (single, negated) = (new IpHeaderMatch(Source: s), new IpHeaderMatch(Source: s with { Negated = !s.Negated }));
        else if (ip.Destination is { } d) (single, negated) = (new IpHeaderMatch(Destination: d), new IpHeaderMatch(Destination: d with { Negated = !d.Negated }));
        else if (ip.InInterface is { } i) (single, negated) = (new IpHeaderMatch(InInterface: i), new IpHeaderMatch(InInterface: i with { Negated = !i.Negated }));
        else if (ip.Protocol is { } p) (single, negated) = (new IpHeaderMatch(Protocol: p), new IpHeaderMatch(Protocol: p with { Negated = !p.Negated }));
        else return true;
        _ = matches;
        var packet = Decode.Packet(packetChoice, 1);
        var a = Replay(Filter(Chain("INPUT", Verdict.Accept, Rule(single, Drop)), Chain("FORWARD", Verdict.Accept, Rule(single, Drop))), [packet])[0];
        var b = Replay(Filter(Chain("INPUT", Verdict.Accept, Rule(negated, Drop)), Chain("FORWARD", Verdict.Accept, Rule(negated, Drop))), [packet])[0];
        if (a.Reason is not null) return a.Reason == b.Reason; // the stack decided before the rules
        return (a.Verdict == FinalVerdict.Drop) != (b.Verdict == FinalVerdict.Drop);
    }

    [Property(MaxTest = 100, Replay = "20261122,13")]
    public bool Non_terminating_rules_never_change_the_verdict(int[] rules, int[] user, int[] packets, int where)
    {
        var baseRules = Decode.Ruleset(rules, user, inputPolicyDrop: true);
        var input = baseRules.FindTable("filter")!.FindChain("INPUT")!;
        int at = input.Rules.Length == 0 ? 0 : (int)((uint)where % (uint)(input.Rules.Length + 1));
        Rule[] extra =
        [
            Rule(new IpHeaderMatch(Protocol: Proto(Harness.Net.IpProtocol.Tcp)), new Harness.Rules.Extensions.LogTarget(4, "X: ", Harness.Rules.Extensions.LogFlags.None)),
            Rule(),
            Rule(new IpHeaderMatch(InInterface: If("eth0")), new Harness.Rules.Extensions.MarkTarget(0x10, 0xFFFFFFFF)),
        ];
        var list = input.Rules.ToList();
        list.InsertRange(at, extra);
        var changed = Filter(
            Chain("INPUT", Verdict.Drop, [.. list]),
            baseRules.FindTable("filter")!.FindChain("FORWARD")!,
            baseRules.FindTable("filter")!.FindChain("OUTPUT")!,
            baseRules.FindTable("filter")!.FindChain("USER")!);
        var traffic = Decode.Packets(packets);
        var a = Replay(baseRules, traffic);
        var b = Replay(changed, traffic);
        return a.Count == b.Count && a.Zip(b).All(x =>
            x.First.Verdict == x.Second.Verdict && x.First.Disposition == x.Second.Disposition
            && RuleTextOf(baseRules, x.First.DecidingRule) == RuleTextOf(changed, x.Second.DecidingRule));
    }

    [Property(MaxTest = 100, Replay = "20261122,15")]
    public bool A_rule_no_packet_matches_changes_no_outcome(int[] rules, int[] user, int[] packets, int where)
    {
        var baseRules = Decode.Ruleset(rules, user, inputPolicyDrop: false);
        var input = baseRules.FindTable("filter")!.FindChain("INPUT")!;
        int at = (int)((uint)where % (uint)(input.Rules.Length + 1));
        var list = input.Rules.ToList();
        list.Insert(at, Rule(new IpHeaderMatch(Source: Cidr4("240.0.0.1/32")), Drop));
        var changed = Filter(
            Chain("INPUT", Verdict.Accept, [.. list]),
            baseRules.FindTable("filter")!.FindChain("FORWARD")!,
            baseRules.FindTable("filter")!.FindChain("OUTPUT")!,
            baseRules.FindTable("filter")!.FindChain("USER")!);
        var traffic = Decode.Packets(packets);
        var a = Replay(baseRules, traffic);
        var b = Replay(changed, traffic);
        return a.Count == b.Count && a.Zip(b).All(x =>
            x.First.Verdict == x.Second.Verdict && x.First.Disposition == x.Second.Disposition
            && SameHeaders(x.First, x.Second) && x.First.Log.SequenceEqual(x.Second.Log)
            && RuleTextOf(baseRules, x.First.DecidingRule) == RuleTextOf(changed, x.Second.DecidingRule));
    }

    [Property(MaxTest = 100, Replay = "20261122,17")]
    public bool The_same_case_run_twice_gives_identical_outcomes(int[] rules, int[] user, int[] packets, bool policyDrop)
    {
        var ruleset = Decode.Ruleset(rules, user, policyDrop);
        var traffic = Decode.Packets(packets);
        var a = Replay(ruleset, traffic).Select(Decode.Describe);
        var b = Replay(ruleset, traffic).Select(Decode.Describe);
        return a.SequenceEqual(b);
    }

    [Property(MaxTest = 100, Replay = "20261122,19")]
    public bool The_compiled_walk_equals_the_linear_walk(int[] rules, int[] user, int[] packets, bool policyDrop)
    {
        // Long chains so the candidate index is used: repeat the generated rules.
        var longRules = rules.Concat(rules.Select(r => r ^ 0x2A)).Concat(rules.Select(r => r ^ 0x15)).ToArray();
        var ruleset = Decode.Ruleset(longRules, user, policyDrop);
        var traffic = Decode.Packets(packets);
        var compiled = Replay(ruleset, traffic).Select(Decode.Describe);
        var linear = Replay(ruleset, traffic, new EngineOptions(LinearWalk: true)).Select(Decode.Describe);
        return compiled.SequenceEqual(linear);
    }
}
