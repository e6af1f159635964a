using Harness.Net;
using Harness.Rules.Tests.Support;
using static Harness.Rules.Tests.Support.Loads;

namespace Harness.Rules.Tests.Loading;

public class ScriptReaderTests
{
    [Fact]
    public void Append_after_a_catch_all_drop_lands_after_it()
    {
        var result = Text(Lines(
            "iptables -A INPUT -j DROP",
            "iptables -A INPUT -p tcp --dport 22 -j ACCEPT"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(["-A INPUT -j DROP", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"], result.RuleLines());
    }

    [Fact]
    public void Insert_without_a_number_goes_first_and_with_a_number_before_that_rule()
    {
        var result = Text(Lines(
            "iptables -A INPUT -s 10.0.0.1 -j ACCEPT",
            "iptables -A INPUT -s 10.0.0.2 -j ACCEPT",
            "iptables -I INPUT -s 10.0.0.3 -j ACCEPT",
            "iptables -I INPUT 3 -s 10.0.0.4 -j ACCEPT",
            "iptables --insert INPUT 5 -s 10.0.0.5 -j ACCEPT"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(["3", "1", "4", "2", "5"], result.RuleLines().Select(l => l.Split(' ')[3].Split('.')[3].Split('/')[0]));
    }

    [Fact]
    public void Replace_delete_by_number_and_by_spec()
    {
        var result = Text(Lines(
            "iptables -A INPUT -s 10.0.0.1 -j ACCEPT",
            "iptables -A INPUT -s 10.0.0.2 -j ACCEPT",
            "iptables -A INPUT -s 10.0.0.1 -j ACCEPT",
            "iptables -A INPUT -s 10.0.0.3 -j ACCEPT",
            "iptables -R INPUT 2 -s 10.0.0.9 -j DROP",
            "iptables -D INPUT -s 10.0.0.1/32 -j ACCEPT",
            "iptables --delete INPUT 3"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(["-A INPUT -s 10.0.0.9/32 -j DROP", "-A INPUT -s 10.0.0.1/32 -j ACCEPT"], result.RuleLines());
    }

    [Fact]
    public void Chains_are_created_renamed_flushed_and_deleted()
    {
        var result = Text(Lines(
            "iptables -N web",
            "iptables -A web -p tcp --dport 80 -j ACCEPT",
            "iptables -A INPUT -j web",
            "iptables -E web www",
            "iptables -N empty",
            "iptables -t nat -N natty",
            "iptables -X empty",
            "iptables -F www",
            "iptables -P FORWARD DROP",
            "iptables -Z"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(Lines(
            "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]", ":www - [0:0]", "-A INPUT -j www", "COMMIT",
            "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":natty - [0:0]",
            "COMMIT"), result.Save());
    }

    [Fact]
    public void Flush_and_delete_without_a_chain_work_on_the_whole_table()
    {
        var result = Text(Lines(
            "iptables -N a", "iptables -N b", "iptables -A a -j ACCEPT", "iptables -A INPUT -j b",
            "iptables -F", "iptables -X"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(Lines("*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT"), result.Save());
    }

    [Fact]
    public void Delete_chain_without_a_name_is_all_or_nothing_with_the_last_reason()
    {
        var result = Text(Lines("iptables -N a", "iptables -N b", "iptables -N c", "iptables -A a -j ACCEPT", "iptables -A INPUT -j b", "iptables -X"));
        Assert.Equal("t.rules:6:10: error: Too many links. (chain 'b' is still the target of a jump or goto)", result.Errors());
        Assert.Equal(["a", "b", "c"], result.Ruleset.FindTable("filter")!.Chains.Where(c => !c.IsBuiltin).Select(c => c.Name));
    }

    [Fact]
    public void Sudo_paths_continuations_comments_and_long_options_are_accepted()
    {
        var result = Text(Lines(
            "#!/bin/sh",
            "# a comment",
            "",
            "sudo iptables --append INPUT \\",
            "    --protocol tcp --dport 443 \\",
            "    --jump ACCEPT   # trailing comment",
            "/sbin/iptables -w -t filter -A INPUT -j DROP",
            "/usr/sbin/iptables-legacy --wait 5 --table filter --new-chain X",
            "iptables-nft -W 100 --policy OUTPUT DROP",
            "iptables --wait=3 --table=filter --append=X -j RETURN"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(["-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT", "-A INPUT -j DROP", "-A X -j RETURN"], result.RuleLines());
        var rule = result.Ruleset.FindTable("filter")!.FindChain("INPUT")!.Rules[0];
        Assert.Equal(4, rule.Source.Line);
    }

    [Fact]
    public void Ip6tables_commands_make_an_IPv6_ruleset()
    {
        var result = Text(Lines("ip6tables -A INPUT -s 2001:db8::1 -j ACCEPT"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(Family.IPv6, result.Ruleset.Family);
        Assert.Equal(["-A INPUT -s 2001:db8::1/128 -j ACCEPT"], result.RuleLines());
    }

    [Fact]
    public void A_script_runs_on_top_of_a_dump()
    {
        var result = Texts(
            Lines("*filter", ":INPUT DROP [0:0]", "-A INPUT -i lo -j ACCEPT", "-A INPUT -j REJECT --reject-with icmp-port-unreachable", "COMMIT"),
            Lines("iptables -A INPUT -p tcp --dport 8080 -j ACCEPT", "iptables -I INPUT 2 -p tcp --dport 22 -j ACCEPT"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal([
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
            "-A INPUT -j REJECT --reject-with icmp-port-unreachable",
            "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT"], result.RuleLines());
        Assert.Equal("in2.rules", result.Ruleset.FindTable("filter")!.FindChain("INPUT")!.Rules[1].Source.File);
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "iptables -I INPUT 2 -j ACCEPT", "t.rules:1:13: error: Index of insertion too big." },
        { "iptables -R INPUT 1 -j ACCEPT", "t.rules:1:13: error: Index of replacement too big." },
        { "iptables -D INPUT 1", "t.rules:1:13: error: Index of deletion too big." },
        { "iptables -D INPUT -j ACCEPT", "t.rules:1:10: error: Bad rule (does a matching rule exist in that chain?)." },
        { "iptables -Z INPUT 1", "t.rules:1:13: error: Index of counter too big." },
        { "iptables -A NOPE -j ACCEPT", "t.rules:1:13: error: No chain/target/match by that name. (no chain 'NOPE' in this table)" },
        { "iptables -A INPUT -j NOPE",
            "t.rules:1:22: error: Couldn't load target `NOPE':No such file or directory (no chain or target named 'NOPE' in this table)" },
        { "iptables -N INPUT", "t.rules:1:13: error: Chain already exists." },
        { "iptables -N -foo", "t.rules:1:10: error: option \"-N\" requires an argument" },
        { "iptables -N aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "t.rules:1:13: error: chain name `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' too long (must be under 29 chars)" },
        { "iptables -N ACCEPT", "t.rules:1:13: error: chain name may not clash with target name" },
        { "iptables -N 'a b'", "t.rules:1:13: error: Invalid chain name `a b'" },
        { "iptables -P FOO DROP", "t.rules:1:13: error: Bad built-in chain name. ('FOO' is not a built-in chain, so it has no policy)" },
        { "iptables -P INPUT RETURN",
            "t.rules:1:19: error: Bad policy name. Run `dmesg' for more information. ('RETURN': a policy is ACCEPT or DROP)" },
        { "iptables -t nat -P POSTROUTING DROP",
            "t.rules:1:32: error: The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited." },
        { "iptables -X INPUT",
            "t.rules:1:13: error: Invalid argument. Run `dmesg' for more information. (built-in chain 'INPUT' cannot be deleted)" },
        { "iptables -X NOPE", "t.rules:1:13: error: No chain/target/match by that name. (no chain 'NOPE' in this table)" },
        { "iptables -E NOPE X", "t.rules:1:13: error: No chain/target/match by that name. (no chain 'NOPE' in this table)" },
        { "iptables -E INPUT X", "t.rules:1:13: error: No chain/target/match by that name. (no chain 'INPUT' in this table)" },
        { "iptables -E X INPUT", "t.rules:1:15: error: File exists. (a chain named 'INPUT' already exists)" },
        { "iptables -L", "t.rules:1:10: error: unsupported iptables command '-L': only -A -I -R -D -N -X -F -Z -P -E (with -t, -w, -W, -c) change a ruleset" },
        { "iptables -S INPUT", "t.rules:1:10: error: unsupported iptables command '-S': only -A -I -R -D -N -X -F -Z -P -E (with -t, -w, -W, -c) change a ruleset" },
        { "iptables -j ACCEPT", "t.rules:1:10: error: no command specified" },
        { "iptables -A INPUT -I INPUT", "t.rules:1:19: error: Cannot use -I with -A" },
        { "iptables -I INPUT 0 -j ACCEPT", "t.rules:1:19: error: Invalid rule number `0'" },
        { "iptables -R INPUT -j ACCEPT", "t.rules:1:10: error: -R requires a rule number" },
        { "iptables -P INPUT", "t.rules:1:10: error: -P requires a chain and a policy" },
        { "iptables -F INPUT -j ACCEPT", "t.rules:1:19: error: Illegal option `-j' with this command" },
        { "iptables -X INPUT extra", "t.rules:1:19: error: Bad argument `extra'" },
        { "iptables -t foo -A INPUT", "t.rules:1:13: error: table 'foo' does not exist (expected raw, mangle, nat, filter or security)" },
        { "echo hello", "t.rules:1:1: error: expected an iptables-save document (a table header such as \"*filter\") or iptables commands, found 'echo'" },
        { "iptables -A INPUT -j ACCEPT\nset -e", "t.rules:2:1: error: 'set' is not an iptables command (expected iptables, ip6tables, iptables-legacy, iptables-nft, … optionally after sudo)" },
        { "iptables -A INPUT -j ACCEPT\nip6tables -A INPUT -j ACCEPT",
            "t.rules:2:1: error: 'ip6tables' is an IPv6 command but this ruleset is IPv4 (from 'iptables' at t.rules:1); load IPv4 and IPv6 rulesets separately" },
        { "iptables -A INPUT \\\n  -p tcp --bogus", "t.rules:2:10: error: unknown option \"--bogus\"" },
        { "iptables -N A\niptables -N B\niptables -A A -j B\niptables -A B -j A\niptables -A INPUT -j A",
            "t.rules:5:10: error: Too many levels of symbolic links. (jumps through chain 'A' form a loop reachable from a built-in chain)" },
        { "iptables -t nat -N U\niptables -t nat -A U -j DNAT --to-destination 1.2.3.4\niptables -t nat -A INPUT -j U",
            "t.rules:3:17: error: Invalid argument. Run `dmesg' for more information. (kernel: DNAT target: used from hooks INPUT, but only usable from PREROUTING/OUTPUT)" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Refusals_match_iptables(string script, string expected)
    {
        var result = Text(script + "\n");
        Assert.Equal(expected, result.Errors());
    }

    [Fact]
    public void A_refused_command_changes_nothing_and_the_script_goes_on()
    {
        var result = Text(Lines(
            "iptables -t nat -N U",
            "iptables -t nat -A U -j DNAT --to-destination 1.2.3.4",
            "iptables -t nat -A INPUT -j U",
            "iptables -t nat -A OUTPUT -j U"));
        Assert.Single(result.Diagnostics);
        Assert.Equal(["-A OUTPUT -j U", "-A U -j DNAT --to-destination 1.2.3.4"], result.RuleLines("nat"));
    }
}

public class FamilyTests
{
    [Fact]
    public void A_dump_of_the_other_family_is_refused_with_one_error()
    {
        var result = Loads.Text(Lines("*filter", ":INPUT ACCEPT [0:0]", "-A INPUT -s 10.0.0.1/32 -j ACCEPT", "COMMIT"), Family.IPv6);
        Assert.Equal(
            "t.rules:3:1: error: this document is IPv4 (address 10.0.0.1/32) but the ruleset is IPv6 (from the --family option); load IPv4 and IPv6 rulesets separately, so this file is not loaded",
            result.Errors());
        Assert.Empty(result.Ruleset.Tables);
    }

    [Fact]
    public void The_first_input_that_shows_a_family_decides_it()
    {
        var result = Loads.Texts(
            Lines("*filter", ":INPUT ACCEPT [0:0]", "COMMIT"),
            Lines("*filter", "-A INPUT -s 2001:db8::/32 -j ACCEPT", "COMMIT"),
            Lines("iptables -A INPUT -j ACCEPT"));
        Assert.Equal(Family.IPv6, result.Ruleset.Family);
        Assert.Equal(
            "in3.rules:1:1: error: 'iptables' is an IPv4 command but this ruleset is IPv6 (from address 2001:db8::/32 at in2.rules:2); load IPv4 and IPv6 rulesets separately",
            result.Errors());
    }

    [Fact]
    public void Without_any_sign_the_family_is_IPv4()
    {
        var result = Loads.Text(Lines("*filter", "-A INPUT -j ACCEPT", "COMMIT"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(Family.IPv4, result.Ruleset.Family);
    }
}

public class IncrementalKernelCheckTests
{
    [Fact]
    public void A_loop_built_while_unreachable_is_refused_when_a_jump_makes_it_reachable()
    {
        var result = Loads.Text(Lines(
            "iptables -N c", "iptables -N d", "iptables -N e",
            "iptables -A c -j d", "iptables -A d -j e", "iptables -A e -j d",
            "iptables -A INPUT -j c"));
        Assert.Equal("t.rules:7:10: error: Too many levels of symbolic links. (jumps through chain 'c' form a loop reachable from a built-in chain)",
            result.Errors());
    }

    [Fact]
    public void A_limited_target_deep_below_a_new_jump_is_checked_with_the_new_hook()
    {
        var result = Loads.Text(Lines(
            "iptables -t nat -N a", "iptables -t nat -N b",
            "iptables -t nat -A a -j b", "iptables -t nat -A b -j MASQUERADE",
            "iptables -t nat -A POSTROUTING -j a",
            "iptables -t nat -A OUTPUT -j a",
            "iptables -t nat -D POSTROUTING -j a",
            "iptables -t nat -A OUTPUT -j a"));
        Assert.Equal(
            "t.rules:6:17: error: Invalid argument. Run `dmesg' for more information. (kernel: MASQUERADE target: used from hooks OUTPUT/POSTROUTING, but only usable from POSTROUTING)\n"
            + "t.rules:8:17: error: Invalid argument. Run `dmesg' for more information. (kernel: MASQUERADE target: used from hooks OUTPUT, but only usable from POSTROUTING)",
            result.Errors());
        Assert.Equal(["-A a -j b", "-A b -j MASQUERADE"], result.RuleLines("nat"));
    }
}

public class NormalisationTests
{
    [Fact]
    public void An_any_address_is_no_match_at_all()
    {
        var result = Loads.Text(Lines(
            "iptables -A INPUT -s 0.0.0.0/0 -d 0.0.0.0/0 -j ACCEPT",
            "iptables -A INPUT -s 10.0.0.0/8 -j DROP",
            "iptables -D INPUT -j ACCEPT",
            "iptables -A INPUT -s 0.0.0.0/0 -j REJECT"));
        Assert.True(result.Success, result.Errors());
        Assert.Equal(["-A INPUT -s 10.0.0.0/8 -j DROP", "-A INPUT -j REJECT --reject-with icmp-port-unreachable"], result.RuleLines());
    }
}
