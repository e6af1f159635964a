using System.Diagnostics;
using System.Globalization;
using Harness.Engine;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Bench;

/// <summary>
/// `dotnet run -c Release -- replay-bench [packets] [--linear]`: writes the generated benchmark capture once, then on one
/// thread measures the bare read+decode rate of the file, and the read+decode+engine rate for (a) the 50-rule firewall
/// and (b) kube-proxy with 5,000 services (~27,500 nat rules); also the engine alone on packets already in memory.
/// </summary>
public static class ReplayBench
{
    public static int Run(string[] args)
    {
        long count = args.Length > 1 && !args[1].StartsWith('-') ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
        var path = Path.Combine(Path.GetTempPath(), $"harness-bench-{count}.pcapng");
        if (!File.Exists(path))
        {
            Console.WriteLine($"writing {count:N0} packets to {path} …");
            FlowGenerator.WriteBenchmarkCapture(path + ".tmp", count, seed: 1);
            File.Move(path + ".tmp", path, overwrite: true);
        }
        var host = BenchCases.Router();
        if (args.Contains("--digest")) return OutcomeDigest.Run(path, host, (int)Math.Min(count, 300_000));
        if (args.Contains("--alloc")) return SampleAllocations(path, host);
        if (args.Contains("--engine-only"))
            return EngineOnly(path, host, args.Contains("--kube") ? BenchCases.KubeProxyText()
                : args.Contains("--notrack") ? BenchCases.UntrackedFirewallText() : BenchCases.FirewallText());
        if (args.Contains("--memory")) return Memory(path, host);
        if (args.Contains("--sizes")) return Sizes();
        if (args.Contains("--reasons")) return Reasons(path, host);
        var firewall = BenchCases.Load(BenchCases.FirewallText(), "firewall.rules");
        var kube = BenchCases.Load(BenchCases.KubeProxyText(), "kube-proxy.rules");
        Console.WriteLine($"capture: {path}; firewall: {firewall.AllRules.Count()} rules; kube-proxy: {kube.AllRules.Count()} rules ({kube.FindTable("nat")!.Chains.Sum(c => c.Rules.Length)} nat)");

        Harness.Engine.Engine Make(Ruleset rules, EngineOptions? o = null) => Harness.Engine.Engine.Create(rules, null, host, o ?? EngineOptions.Default);
        // Long enough for the tiered JIT to reach its optimized, profile-guided code on the engine's paths.
        Measure("warm-up", path, () => Make(firewall), limit: 300_000);
        double decode = Math.Max(Measure("read+decode", path, null), Measure("read+decode", path, null));
        if (args.Contains("--quick"))
        {
            // Only (a), three times: for A/B comparisons of one change.
            double best = 0;
            var quickOptions = args.Contains("--fields") ? new EngineOptions(RebuildBytes: false) : EngineOptions.Default;
            for (int i = 0; i < 3; i++) best = Math.Max(best, Measure("(a) firewall", path, () => Make(firewall, quickOptions)));
            long before = GC.GetAllocatedBytesForCurrentThread();
            long read = CaptureReader.Read(path).Take(100_000).LongCount();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"(a) best {best:N0}/s, (a)/decode = {best / decode:F2}; read+decode allocates {(GC.GetAllocatedBytesForCurrentThread() - before) / read:N0} B/packet"));
            return 0;
        }
        if (args.Contains("--empty")) Measure("no ruleset (stack + conntrack)", path, () => Harness.Engine.Engine.Create(null, null, host, new EngineOptions(RebuildBytes: false)));
        // Best of two runs each: the machine may be shared, and the first run of a path pays for tiered JIT.
        double a = Math.Max(Measure("(a) firewall", path, () => Make(firewall)), Measure("(a) firewall", path, () => Make(firewall)));
        double b = Math.Max(Measure("(b) kube-proxy", path, () => Make(kube)), Measure("(b) kube-proxy", path, () => Make(kube)));
        var natRouter = BenchCases.Load(BenchCases.NatRouterText(), "nat-router.rules");
        // Not a target: the cost of a SNAT binding per connection (the capture's replies go to the clients' own
        // addresses, so the firewall drops them as NEW).
        Measure("(c) NAT router (a + MASQUERADE)", path, () => Make(natRouter));
        double af = Measure("(a) firewall, fields only", path, () => Make(firewall, new EngineOptions(RebuildBytes: false)));
        double bf = Measure("(b) kube-proxy, fields only", path, () => Make(kube, new EngineOptions(RebuildBytes: false)));
        var inMemory = CaptureReader.Read(path).Take(200_000).ToList();
        double ea = Math.Max(MeasureEngine("(a) engine only, in memory", inMemory, Make(firewall)), MeasureEngine("(a) engine only, in memory", inMemory, Make(firewall)));
        double eb = Math.Max(MeasureEngine("(b) engine only, in memory", inMemory, Make(kube)), MeasureEngine("(b) engine only, in memory", inMemory, Make(kube)));
        MeasureEngine("(a) engine only, fields only", inMemory, Make(firewall, new EngineOptions(RebuildBytes: false)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"engine only: (a) {ea:N0}/s, (b) {eb:N0}/s, (b)/(a) slowdown = {ea / eb:F2}"));
        if (args.Contains("--linear")) Measure("(b) kube-proxy, linear walk", path, () => Make(kube, new EngineOptions(LinearWalk: true)), limit: 20_000);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"(a)/decode = {a / decode:F2}, fields only {af / decode:F2} (target >= 0.5); (a) >= 1M/s: {a >= 1_000_000}; (b)/(a) slowdown = {a / b:F2}, fields only {af / bf:F2} (target <= 3)"));
        return 0;
    }

    /// <summary>
    /// `--memory`: streams the whole capture through (a), discarding outcomes as a CI check would after comparing
    /// them, and prints the peak working set and the conntrack table's size at the end.
    /// </summary>
    private static int Memory(string path, Harness.Hosts.Host host)
    {
        var engine = Harness.Engine.Engine.Create(BenchCases.Load(BenchCases.FirewallText(), "firewall.rules"), null, host, EngineOptions.Default);
        long n = 0;
        Timestamp last = default;
        foreach (var packet in CaptureReader.Read(path))
        {
            n++;
            last = packet.Time;
            engine.Process(packet);
        }
        var process = Process.GetCurrentProcess();
        long live = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"(a) firewall, {n:N0} packets streamed: peak working set {process.PeakWorkingSet64 / 1e6:F0} MB, live heap at the end {live / 1e6:F0} MB, conntrack entries held {engine.Conntrack.Entries.Count():N0}, alive at the end {engine.Conntrack.CountAt(last):N0}"));
        GC.KeepAlive(engine);
        return 0;
    }

    /// <summary>`--reasons`: the dispositions and drop reasons of (a) and (b) over the first 200,000 packets (what the bench's packets meet).</summary>
    private static int Reasons(string path, Harness.Hosts.Host host)
    {
        foreach (var (name, text) in new[] { ("(a) firewall", BenchCases.FirewallText()), ("(b) kube-proxy", BenchCases.KubeProxyText()) })
        {
            var engine = Harness.Engine.Engine.Create(BenchCases.Load(text, name), null, host, EngineOptions.Default);
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var packet in CaptureReader.Read(path).Take(200_000))
                foreach (var o in engine.Process(packet))
                {
                    var key = $"{o.Disposition} {o.DecidingRule ?? "-"} {o.Reason ?? "-"}";
                    counts[key] = counts.GetValueOrDefault(key) + 1;
                }
            Console.WriteLine(name);
            foreach (var (key, n) in counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(8))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {n,8:N0}  {key}"));
        }
        return 0;
    }

    /// <summary>
    /// `--engine-only [--kube | --notrack]`: only the engine on 200,000 packets in memory, fifteen times (for a
    /// profiler), with the bytes the collector promoted per run. `--notrack`: (a) with conntrack off (what tracking costs).
    /// </summary>
    private static int EngineOnly(string path, Harness.Hosts.Host host, string text)
    {
        var inMemory = CaptureReader.Read(path).Take(200_000).ToList();
        var rules = BenchCases.Load(text, "bench.rules");
        using var promotions = new GcPromotions();
        for (int i = 0; i < 15; i++)
        {
            promotions.TakeReport();
            MeasureEngine("engine only", inMemory, Harness.Engine.Engine.Create(rules, null, host, EngineOptions.Default));
            Console.WriteLine("  " + promotions.TakeReport());
        }
        return 0;
    }

    /// <summary>
    /// `--sizes`: the heap size of one object of each type a packet or a connection leaves behind (what an allocation
    /// of it costs, less the measuring call's own allocation, taken from a plain object's known 24 bytes).
    /// </summary>
    private static int Sizes()
    {
        static long Measure(Type type)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(type);
            long before = GC.GetAllocatedBytesForCurrentThread();
            System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(type);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        long overhead = Measure(typeof(object)) - 24;
        Type[] types =
        [
            typeof(Packet), typeof(IpHeader), typeof(TcpHeader), typeof(LinkHeader), typeof(Outcome), typeof(ConntrackView),
            typeof(CtTuple), typeof(Harness.Engine.Conntrack.ConnEntry),
        ];
        foreach (var type in types)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{type.Name,-20} {Measure(type) - overhead,5} B"));
        return 0;
    }

    /// <summary>`--alloc`: which types the engine allocates per packet for (a) and (b), from the runtime's allocation samples.</summary>
    private static int SampleAllocations(string path, Harness.Hosts.Host host)
    {
        var inMemory = CaptureReader.Read(path).Take(200_000).ToList();
        using var sampler = new AllocationSampler();
        sampler.Start();
        long read = CaptureReader.Read(path).Take(200_000).LongCount();
        Console.WriteLine("read+decode:");
        sampler.Report(read);
        foreach (var (name, text) in new[] { ("(a) firewall", BenchCases.FirewallText()), ("(b) kube-proxy", BenchCases.KubeProxyText()) })
        {
            var rules = BenchCases.Load(text, name);
            MeasureEngine(name + " warm-up", inMemory, Harness.Engine.Engine.Create(rules, null, host, EngineOptions.Default));
            var engine = Harness.Engine.Engine.Create(rules, null, host, EngineOptions.Default);
            sampler.Start();
            MeasureEngine(name, inMemory, engine);
            sampler.Report(inMemory.Count);
        }
        return 0;
    }

    private static double MeasureEngine(string name, List<Packet> packets, Harness.Engine.Engine engine)
    {
        GC.Collect();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        int[] gcBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        var pauseBefore = GC.GetTotalPauseDuration();
        var sw = Stopwatch.StartNew();
        long outcomes = 0;
        foreach (var packet in packets) outcomes += engine.Process(packet).Count;
        sw.Stop();
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        double rate = packets.Count / cpu;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-30} {packets.Count,10:N0} packets, {cpu,6:F2} s CPU = {rate,12:N0} packets/s (wall {packets.Count / sw.Elapsed.TotalSeconds,10:N0}/s) {outcomes:N0} outcomes, {(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / packets.Count:N0} B/packet, GCs {GC.CollectionCount(0) - gcBefore[0]}/{GC.CollectionCount(1) - gcBefore[1]}/{GC.CollectionCount(2) - gcBefore[2]} ({(GC.GetTotalPauseDuration() - pauseBefore).TotalSeconds:F2} s paused)"));
        return rate;
    }

    private static double Measure(string name, string path, Func<Harness.Engine.Engine>? create, long limit = long.MaxValue)
    {
        var setup = Stopwatch.StartNew();
        var engine = create?.Invoke();
        setup.Stop();
        var summary = new long[Enum.GetValues<Disposition>().Length];
        GC.Collect();
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var pauseBefore = GC.GetTotalPauseDuration();
        int gen0Before = GC.CollectionCount(0), gen1Before = GC.CollectionCount(1), gen2Before = GC.CollectionCount(2);
        var sw = Stopwatch.StartNew();
        long n = 0;
        foreach (var packet in CaptureReader.Read(path))
        {
            if (++n > limit) { n--; break; }
            if (engine is null) continue;
            var outcomes = engine.Process(packet);
            for (int i = 0; i < outcomes.Count; i++) summary[(int)outcomes[i].Disposition]++;
        }
        sw.Stop();
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        // The machine may be shared: the rate is packets per second of this process's CPU time (one thread does the
        // work; GC and JIT time are included), next to the wall-clock rate.
        double rate = n / cpu;
        var detail = string.Join(", ", Enum.GetValues<Disposition>().Where(d => summary[(int)d] > 0).Select(d => $"{d} {summary[(int)d]:N0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-30} {n,10:N0} packets, {cpu,6:F2} s CPU = {rate,12:N0} packets/s (wall {n / sw.Elapsed.TotalSeconds,10:N0}/s; setup {setup.Elapsed.TotalMilliseconds:F0} ms; GCs {GC.CollectionCount(0) - gen0Before}/{GC.CollectionCount(1) - gen1Before}/{GC.CollectionCount(2) - gen2Before}, {(GC.GetTotalPauseDuration() - pauseBefore).TotalSeconds:F2} s paused) {detail}"));
        return rate;
    }
}
