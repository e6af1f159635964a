using Harness.Engine.Tests.Support;
using Harness.Packets;

namespace Harness.Engine.Tests.Scenarios;

/// <summary>Anti-DoS: connlimit per client, SYN rate limit, ssh brute-force block with recent, hashlimit per source.</summary>
public class AntiDosScenarioTests
{
    private const string Rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A INPUT -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr -j REJECT --reject-with tcp-reset
        -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
        -A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name SSH --mask 255.255.255.255 --rsource
        -A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 4 --name SSH --mask 255.255.255.255 --rsource -j DROP
        -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
        -A INPUT -p udp -m udp --dport 53 -m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name dns -j ACCEPT
        COMMIT
        """;

    private static Engine NewEngine() => Engine.Create(TestRules.Load(Rules), null, TestHosts.Server(), EngineOptions.Default);

    [Fact]
    public void Third_concurrent_connection_from_one_client_is_reset()
    {
        var engine = NewEngine();
        var d = new List<Disposition>();
        for (int i = 0; i < 3; i++)
            d.Add(engine.Process(P.Syn("198.51.100.7", (ushort)(40000 + i), "10.0.0.10", 80, "eth0", i + 1, 1 + i * 0.1))[0].Disposition);
        d.Add(engine.Process(P.Syn("198.51.100.8", 40000, "10.0.0.10", 80, "eth0", 4, 1.5))[0].Disposition);
        Assert.Equal([Disposition.Delivered, Disposition.Delivered, Disposition.Rejected, Disposition.Delivered], d);
    }

    [Fact]
    public void Fourth_ssh_attempt_within_a_minute_is_dropped_and_allowed_again_later()
    {
        var engine = NewEngine();
        var times = new[] { 1.0, 5.0, 9.0, 13.0, 80.0 };
        var d = times.Select((t, i) => engine.Process(P.Syn("198.51.100.7", (ushort)(50000 + i), "10.0.0.10", 22, "eth0", i + 1, t))[0]).ToList();
        Assert.Equal([Disposition.Delivered, Disposition.Delivered, Disposition.Delivered, Disposition.Dropped, Disposition.Delivered],
            d.Select(o => o.Disposition));
        Assert.Equal("filter:INPUT:5", d[3].DecidingRule);
    }

    [Fact]
    public void Hashlimit_keeps_one_bucket_per_source()
    {
        var engine = NewEngine();
        var a = Enumerable.Range(0, 3).Select(i => engine.Process(P.Udp("198.51.100.7", (ushort)(6000 + i), "10.0.0.10", 53, "eth0", i + 1, 2.0))[0].Disposition).ToList();
        var b = engine.Process(P.Udp("198.51.100.9", 6000, "10.0.0.10", 53, "eth0", 4, 2.0))[0].Disposition;
        var later = engine.Process(P.Udp("198.51.100.7", 6010, "10.0.0.10", 53, "eth0", 5, 3.1))[0].Disposition;
        Assert.Equal([Disposition.Delivered, Disposition.Delivered, Disposition.Dropped], a);
        Assert.Equal(Disposition.Delivered, b);
        Assert.Equal(Disposition.Delivered, later);
    }
}
