using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using static Harness.Engine.Tests.Support.TestRules;

namespace Harness.Engine.Tests;

/// <summary>Jump, goto, RETURN and policies, with rulesets built record by record (ipt_do_table's semantics).</summary>
public class ChainWalkTests
{
    private static Outcome Run(Ruleset rules, Packet packet) =>
        Engine.Create(rules, null, TestHosts.Router(), EngineOptions.Default).Process(packet)[0];

    private static readonly Packet FromLan = P.Syn("192.168.1.50", 40000, "192.168.1.1", 22, "eth1");
    private static readonly Packet FromWan = P.Syn("198.51.100.7", 40000, "203.0.113.1", 22, "eth0");

    [Fact]
    public void Policy_decides_when_no_rule_matches()
    {
        var rules = Filter(Chain("INPUT", Verdict.Drop, Rule(new IpHeaderMatch(InInterface: If("eth1")), Accept)));
        var lan = Run(rules, FromLan);
        var wan = Run(rules, FromWan);
        Assert.Equal((FinalVerdict.Accept, Disposition.Delivered, "filter:INPUT:1"), (lan.Verdict, lan.Disposition, lan.DecidingRule));
        Assert.Equal((FinalVerdict.Drop, Disposition.Dropped, "filter:INPUT:policy", Hook.Input), (wan.Verdict, wan.Disposition, wan.DecidingRule, wan.DroppedAt));
        Assert.Equal("test.rules:1", lan.DecidingRuleSource);
    }

    [Fact]
    public void Return_from_a_user_chain_continues_after_the_jump()
    {
        var rules = Filter(
            Chain("INPUT", Verdict.Accept, Rule(target: Jump("CHECK")), Rule(new IpHeaderMatch(Source: Cidr4("192.168.1.0/24")), Drop)),
            Chain("CHECK", null, Rule(new IpHeaderMatch(Source: Cidr4("192.168.1.0/24")), Return), Rule(target: Drop)));
        var lan = Run(rules, FromLan);
        var wan = Run(rules, FromWan);
        Assert.Equal("filter:INPUT:2", lan.DecidingRule);
        Assert.Equal(FinalVerdict.Drop, lan.Verdict);
        Assert.Equal("filter:CHECK:2", wan.DecidingRule);
        Assert.Equal(["INPUT:filter:INPUT", "INPUT:filter:INPUT:1", "INPUT:filter:CHECK", "INPUT:filter:CHECK:1", "INPUT:filter:INPUT:2"],
            lan.Path.Select(p => p.ToString()));
    }

    [Fact]
    public void Falling_off_a_goto_chain_returns_to_the_caller_of_the_caller()
    {
        // INPUT -g EMPTY: the end of EMPTY does not come back to INPUT rule 2; the built-in policy decides.
        var withGoto = Filter(Chain("INPUT", Verdict.Accept, Rule(target: Goto("EMPTY")), Rule(target: Drop)), Chain("EMPTY", null));
        var withJump = Filter(Chain("INPUT", Verdict.Accept, Rule(target: Jump("EMPTY")), Rule(target: Drop)), Chain("EMPTY", null));
        Assert.Equal("filter:INPUT:policy", Run(withGoto, FromLan).DecidingRule);
        Assert.Equal(FinalVerdict.Accept, Run(withGoto, FromLan).Verdict);
        Assert.Equal("filter:INPUT:2", Run(withJump, FromLan).DecidingRule);
    }

    [Fact]
    public void Goto_inside_a_jumped_chain_returns_to_the_original_caller()
    {
        var rules = Filter(
            Chain("INPUT", Verdict.Accept, Rule(target: Jump("A")), Rule(target: Drop)),
            Chain("A", null, Rule(target: Goto("B")), Rule(target: Accept)),
            Chain("B", null));
        var o = Run(rules, FromLan);
        Assert.Equal("filter:INPUT:2", o.DecidingRule);
    }

    [Fact]
    public void Return_in_a_builtin_chain_means_the_policy()
    {
        var rules = Filter(Chain("INPUT", Verdict.Drop, Rule(target: Return), Rule(target: Accept)));
        var o = Run(rules, FromLan);
        Assert.Equal((FinalVerdict.Drop, "filter:INPUT:policy"), (o.Verdict, o.DecidingRule));
    }

    [Fact]
    public void Rules_without_target_only_count()
    {
        var rules = Filter(Chain("INPUT", Verdict.Drop, Rule(new IpHeaderMatch(Protocol: Proto(IpProtocol.Tcp))), Rule(target: Accept)));
        var engine = Engine.Create(rules, null, TestHosts.Router(), EngineOptions.Default);
        var o = engine.Process(FromLan)[0];
        Assert.Equal("filter:INPUT:2", o.DecidingRule);
        Assert.Equal(new Counters(1, 40), engine.Counters.Get(Family.IPv4, "filter", "INPUT", 1));
        Assert.Equal(new Counters(1, 40), engine.Counters.Get(Family.IPv4, "filter", "INPUT", 2));
        Assert.Equal(new Counters(0, 0), engine.Counters.Policy(Family.IPv4, "filter", "INPUT"));
    }

    [Fact]
    public void Negated_addresses_interfaces_and_protocols()
    {
        var rules = Filter(Chain("INPUT", Verdict.Accept,
            Rule(new IpHeaderMatch(Source: Cidr4("192.168.1.0/24", negated: true), Protocol: Proto(IpProtocol.Udp, negated: true)), Drop)));
        Assert.Equal(FinalVerdict.Accept, Run(rules, FromLan).Verdict);
        Assert.Equal(FinalVerdict.Drop, Run(rules, FromWan).Verdict);
        Assert.Equal(FinalVerdict.Accept, Run(rules, P.Udp("198.51.100.7", 1, "203.0.113.1", 53)).Verdict);
    }

    [Fact]
    public void Wildcard_interface_matches_by_prefix()
    {
        var rules = Filter(Chain("INPUT", Verdict.Drop, Rule(new IpHeaderMatch(InInterface: If("eth+")), Accept)));
        Assert.Equal(FinalVerdict.Accept, Run(rules, FromLan).Verdict);
        Assert.Equal(FinalVerdict.Accept, Run(rules, FromWan).Verdict);
    }

    [Fact]
    public void Later_fragments_match_dash_f()
    {
        var rules = Filter(Chain("INPUT", Verdict.Accept, Rule(new IpHeaderMatch(Fragment: new Negatable<bool>(true, false)), Drop)));
        var fragment = FromWan with { Ip = FromWan.Ip! with { FragmentOffset = 1480 }, Transport = null };
        Assert.Equal(FinalVerdict.Drop, Run(rules, fragment).Verdict);
        Assert.Equal(FinalVerdict.Accept, Run(rules, FromWan).Verdict);
    }

    [Fact]
    public void A_jump_loop_is_refused_naming_the_rule()
    {
        var rules = Filter(Chain("INPUT", Verdict.Accept, Rule(target: Jump("A"))), Chain("A", null, Rule(target: Jump("B"))), Chain("B", null, Rule(target: Jump("A"))));
        var e = Assert.Throws<EngineSetupException>(() => Engine.Create(rules, null, TestHosts.Router(), EngineOptions.Default));
        Assert.Contains("loop", e.Message);
    }

    [Fact]
    public void A_jump_to_a_missing_chain_is_refused()
    {
        var rules = Filter(Chain("INPUT", Verdict.Accept, Rule(target: Jump("NOPE"))));
        var e = Assert.Throws<EngineSetupException>(() => Engine.Create(rules, null, TestHosts.Router(), EngineOptions.Default));
        Assert.Contains("filter:INPUT:1", e.Message);
    }
}
