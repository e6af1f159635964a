using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules;
using Harness.Rules.Loading;

namespace Harness.Engine.Tests.Support;

/// <summary>Rulesets for the tests: from iptables-save text through the real loader, or built record by record.</summary>
public static class TestRules
{
    /// <summary>Loads iptables-save text (or an iptables command script); fails the test with the diagnostics.</summary>
    public static Ruleset Load(string text, Family family = Family.IPv4, string name = "test.rules")
    {
        var result = RulesetLoader.Load([new RulesetInput(name, text)], family);
        if (!result.Success)
            throw new InvalidOperationException("ruleset did not load:\n" + string.Join("\n", result.Diagnostics));
        return result.Ruleset;
    }

    /// <summary>A filter table with the given chains (built-in ones have a policy).</summary>
    public static Ruleset Filter(params Chain[] chains) => new(Family.IPv4, [new Table(TableNames.Filter, [.. chains])]);

    public static Chain Chain(string name, Verdict? policy, params Rule[] rules) =>
        new(name, policy, [.. rules.Select((r, i) => r with { Chain = name, Number = i + 1, Source = new SourceLocation("test.rules", i + 1, 1) })]);

    public static Rule Rule(IpHeaderMatch? ip = null, Target? target = null, string table = TableNames.Filter, params MatchExtension[] matches) =>
        new(table, "?", 0, ip ?? IpHeaderMatch.Any, [.. matches], target, null, SourceLocation.None, "");

    public static Target Accept => new VerdictTarget(Verdict.Accept);
    public static Target Drop => new VerdictTarget(Verdict.Drop);
    public static Target Return => new VerdictTarget(Verdict.Return);
    public static Target Jump(string chain) => new JumpTarget(chain, false);
    public static Target Goto(string chain) => new JumpTarget(chain, true);

    public static Negatable<Cidr> Cidr4(string cidr, bool negated = false) =>
        new(Harness.Net.Cidr.TryParse(cidr, out var c) ? c : throw new FormatException(cidr), negated);

    public static Negatable<InterfaceName> If(string name, bool negated = false) => new(new InterfaceName(name), negated);

    public static Negatable<byte> Proto(byte p, bool negated = false) => new(p, negated);
}
