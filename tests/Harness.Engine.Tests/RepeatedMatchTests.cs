using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Tests;

/// <summary>
/// A rule with two "-m tcp" (or "-m udp"): iptables-nft makes each a payload test and the kernel requires all of them,
/// though iptables-save prints one match with the last options. Found by the wide differential fuzz (the engine tested
/// only the last); the rule keeps every match, and only its printing folds them.
/// </summary>
public class RepeatedMatchTests
{
    private static Outcome Run(string rule, Packet packet)
    {
        var rules = TestRules.Load($"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT {rule} -j DROP\nCOMMIT\n");
        return Engine.Create(rules, null, TestHosts.Router(), EngineOptions.Default).Process(packet)[0];
    }

    [Fact]
    public void Both_tcp_flag_tests_must_hold_as_in_the_kernel()
    {
        const string rule = "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --tcp-flags SYN,RST SYN";
        var synAck = P.Tcp("198.51.100.7", 40000, "203.0.113.1", 22, TcpFlags.Syn | TcpFlags.Ack);
        var syn = P.Tcp("198.51.100.7", 40000, "203.0.113.1", 22, TcpFlags.Syn);
        Assert.Equal("filter:INPUT:policy", Run(rule, synAck).DecidingRule); // the first test fails: SYN/ACK is not SYN alone
        Assert.Equal("filter:INPUT:1", Run(rule, syn).DecidingRule);
    }

    [Fact]
    public void Two_destination_ports_match_nothing_and_print_as_iptables_save_prints_them()
    {
        const string rule = "-p udp -m udp --dport 53 -m udp --dport 54";
        Assert.Equal("filter:INPUT:policy", Run(rule, P.Udp("198.51.100.7", 40000, "203.0.113.1", 53)).DecidingRule);
        Assert.Equal("filter:INPUT:policy", Run(rule, P.Udp("198.51.100.7", 40000, "203.0.113.1", 54)).DecidingRule);
        var rules = TestRules.Load($"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {rule} -j DROP\nCOMMIT\n");
        var saved = rules.FindTable("filter")!.Chains.Single(c => c.Name == "INPUT").Rules[0];
        Assert.Equal(2, saved.Matches.Length); // both tests are kept for the engine …
        Assert.Equal("-p udp -m udp --dport 54 -j DROP", Harness.Rules.Parsing.RuleSpecPrinter.Print(saved.Ip, saved.Matches, saved.Target, Family.IPv4)); // … printed as one

    }
}
