using BenchmarkDotNet.Attributes;
using Harness.Engine;
using Harness.Hosts;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Bench;

/// <summary>
/// BenchmarkDotNet view of the engine alone: 100,000 generated packets already decoded in memory, replayed through
/// (a) the 50-rule stateful firewall and (b) kube-proxy with 5,000 services, compiled walk and linear walk.
/// Run: dotnet run -c Release -- --filter '*EngineBench*'
/// </summary>
[MemoryDiagnoser]
public class EngineBench
{
    private const int PacketCount = 100_000;

    private List<Packet> _packets = [];
    private Host _host = null!;
    private Ruleset _firewall = null!;
    private Ruleset _kube = null!;

    [GlobalSetup]
    public void Setup()
    {
        _packets = [.. FlowGenerator.GenerateBenchmark(PacketCount, seed: 1)];
        _host = BenchCases.Router();
        _firewall = BenchCases.Load(BenchCases.FirewallText(), "firewall.rules");
        _kube = BenchCases.Load(BenchCases.KubeProxyText(), "kube-proxy.rules");
    }

    [Benchmark(OperationsPerInvoke = PacketCount)]
    public long FirewallCompiled() => Replay(_firewall, EngineOptions.Default);

    [Benchmark(OperationsPerInvoke = PacketCount)]
    public long KubeProxyCompiled() => Replay(_kube, EngineOptions.Default);

    [Benchmark(OperationsPerInvoke = PacketCount)]
    public long FirewallLinear() => Replay(_firewall, new EngineOptions(LinearWalk: true));

    private long Replay(Ruleset rules, EngineOptions options)
    {
        var engine = Engine.Engine.Create(rules, null, _host, options);
        long n = 0;
        foreach (var p in _packets) n += engine.Process(p).Count;
        return n;
    }
}
