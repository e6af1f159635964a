using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using Harness.Packets;

namespace Harness.Bench;

/// <summary>
/// The bare read+decode rate of a generated capture (the reference the engine's replay rate is compared with), and
/// the peak memory of reading 1 and 10 million packets, which must be close: reading streams.
/// BenchmarkDotNet: `dotnet run -c Release -- --filter '*PacketsBench*'`; the quick report: <see cref="Report"/>.
/// </summary>
[MemoryDiagnoser]
public class PacketsBench
{
    [Params(1_000_000)]
    public int Packets { get; set; }

    private string path = "";

    /// <summary>The benchmark capture of <paramref name="count"/> packets (seed 1), written once to the temp folder and reused.</summary>
    public static string Capture(long count)
    {
        var file = Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"harness-bench-{count}.pcapng"));
        if (!File.Exists(file))
        {
            FlowGenerator.WriteBenchmarkCapture(file + ".tmp", count, seed: 1);
            File.Move(file + ".tmp", file, overwrite: true);
        }
        return file;
    }

    [GlobalSetup]
    public void Setup() => path = Capture(Packets);

    [Benchmark]
    public long ReadAndDecode()
    {
        long payload = 0;
        foreach (var packet in CaptureReader.Read(path)) payload += packet.PayloadLength;
        return payload;
    }

    /// <summary>
    /// Reads each capture size once on this thread and prints packets/s (wall and CPU time) and the process's peak
    /// working set; run each size in a fresh process for a clean peak (e.g. `report 1000000`, then `report 10000000`).
    /// </summary>
    public static int Report(IEnumerable<long> counts)
    {
        foreach (var count in counts)
        {
            var file = Capture(count);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            long n = 0;
            foreach (var packet in CaptureReader.Read(file)) n += packet.Ip is null ? 0 : 1;
            wall.Stop();
            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"read+decode {n,12:N0} packets ({new FileInfo(file).Length / 1e6:N0} MB): {n / wall.Elapsed.TotalSeconds,12:N0} packets/s wall, {n / used.TotalSeconds,12:N0} packets/s CPU; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:N1} MB"));
        }
        return 0;
    }
}
