using System.Text;
using Harness.Engine.Tests.Support;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests;

/// <summary>The compiled walk (candidate index) and the refusal of constructs the engine cannot evaluate.</summary>
public class CompiledWalkTests
{
    private static string Services(int count)
    {
        var sb = new StringBuilder("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:SVC - [0:0]\n");
        sb.Append("-A PREROUTING -j SVC\n");
        for (int i = 0; i < count; i++)
        {
            sb.Append($"-A SVC -d 10.96.{i / 250}.{i % 250 + 1}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.{i / 250}.{i % 250 + 1}:8080\n");
            if (i == count / 2) sb.Append("-A SVC -p tcp -m tcp --dport 9999 -j DNAT --to-destination 10.244.255.1:9999\n");
        }
        sb.Append("COMMIT\n");
        return sb.ToString();
    }

    [Fact]
    public void A_long_service_chain_is_indexed_and_keeps_first_match_order()
    {
        var rules = TestRules.Load(Services(2000));
        var host = TestHosts.Router();
        var indexed = Engine.Create(rules, null, host, EngineOptions.Default);
        var linear = Engine.Create(rules, null, host, new EngineOptions(LinearWalk: true));
        var chain = new CompiledRuleset(rules, new EngineRuntime(host, EngineOptions.Default)).Find("nat", "SVC")!;
        Assert.Equal(IndexKind.Destination, chain.Index!.Kind);
        Assert.Equal(2000, chain.Index.KeyCount);

        string[] destinations = ["10.96.7.250", "10.96.0.1", "10.96.4.1", "10.96.9.9"];
        ushort[] ports = [80, 9999, 443];
        int n = 0;
        foreach (var dst in destinations)
            foreach (var port in ports)
            {
                n++;
                var p = P.Syn("198.51.100.7", (ushort)(20000 + n), dst, port, "eth0", n, n);
                var a = indexed.Process(p)[0];
                var b = linear.Process(p)[0];
                Assert.Equal(b.Packet.Ip!.Destination, a.Packet.Ip!.Destination);
                Assert.Equal(b.Path.Select(s => s.ToString()), a.Path.Select(s => s.ToString()));
            }
        // 10.96.4.1 is service 1000, listed after the port-9999 rule (rule 1002): port 9999 to it hits rule 1002 first.
        var hit = indexed.Process(P.Syn("198.51.100.7", 30000, "10.96.4.1", 9999, "eth0", 99, 99))[0];
        Assert.Contains("PREROUTING:nat:SVC:1002", hit.Path.Select(s => s.ToString()));
        Assert.Equal("10.244.255.1", hit.Packet.Ip!.Destination.ToString());
    }

    [Fact]
    public void An_extension_the_engine_cannot_evaluate_stops_the_run_naming_the_rule()
    {
        var v6 = TestRules.Load("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m u32 --u32 \"6&0xFF=0x11\" -j DROP\nCOMMIT\n", Family.IPv6);
        var e = Assert.Throws<EngineSetupException>(() => Engine.Create(null, v6, TestHosts.Router(), EngineOptions.Default));
        Assert.Contains("test.rules:5", e.Message);
        Assert.Contains("-m u32", e.Message);
    }

    [Fact]
    public void An_unmodelled_option_of_a_known_target_is_refused()
    {
        var raw = TestRules.Load("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p tcp -j CT --helper sip\nCOMMIT\n");
        var e = Assert.Throws<EngineSetupException>(() => Engine.Create(raw, null, TestHosts.Router(), EngineOptions.Default));
        Assert.Contains("sip", e.Message);
        Assert.Contains("raw:PREROUTING:1", e.Message);
    }
}
