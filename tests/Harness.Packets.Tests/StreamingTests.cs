using Xunit.Abstractions;

namespace Harness.Packets.Tests;

/// <summary>Reading and generating hold one packet at a time: live memory does not grow with the capture.</summary>
public sealed class StreamingTests(ITestOutputHelper output)
{
    [Fact]
    public void ReadingALargeCaptureKeepsLiveMemoryFlat()
    {
        var file = Path.Combine(Path.GetTempPath(), $"hx-packets-{Environment.ProcessId}-stream.pcapng");
        const int count = 80_000;
        try
        {
            FlowGenerator.WriteBenchmarkCapture(file, count, seed: 3);
            long size = new FileInfo(file).Length;
            var samples = new List<long>();
            long n = 0;
            foreach (var packet in CaptureReader.Read(file))
            {
                n++;
                if (n % 10_000 == 0) samples.Add(GC.GetTotalMemory(forceFullCollection: true));
            }
            Assert.Equal(count, n);
            long growth = samples.Max() - samples[0];
            output.WriteLine($"{count} packets, {size / 1e6:F1} MB file; live heap after 10k packets {samples[0] / 1e6:F2} MB, growth to the end {growth / 1e6:F2} MB");
            Assert.True(growth < 4_000_000, $"live memory grew by {growth} bytes while reading a {size}-byte capture");
            Assert.True(size > 20 * growth, "the file must dwarf any growth for this test to mean anything");
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void GeneratingBenchmarkTrafficKeepsLiveMemoryFlat()
    {
        var samples = new List<long>();
        long n = 0, bytes = 0;
        foreach (var packet in FlowGenerator.GenerateBenchmark(60_000, seed: 4))
        {
            n++;
            bytes += packet.Raw.Length;
            if (n % 10_000 == 0) samples.Add(GC.GetTotalMemory(forceFullCollection: true));
        }
        Assert.Equal(60_000, n);
        long growth = samples.Max() - samples[0];
        output.WriteLine($"generated {n} packets ({bytes / 1e6:F1} MB of IP bytes); live heap growth {growth / 1e6:F2} MB");
        Assert.True(growth < 4_000_000, $"live memory grew by {growth} bytes while generating");
    }

    [Fact]
    public void BenchmarkTrafficIsDeterministicAndWellFormed()
    {
        var first = FlowGenerator.GenerateBenchmark(3000, seed: 9).ToList();
        var second = FlowGenerator.GenerateBenchmark(3000, seed: 9).ToList();
        Assert.Equal(first.Select(p => p.Raw.ToArray()), second.Select(p => p.Raw.ToArray()));
        Assert.All(first, p => Assert.True(p.DecodeError is null && p.Transport!.ChecksumValid && p.Ip!.HeaderChecksumValid));
        Assert.True(first.Zip(first.Skip(1)).All(pair => pair.First.Time <= pair.Second.Time), "packets in time order");
        Assert.Contains(first, p => p.Transport is TcpHeader);
        Assert.Contains(first, p => p.Transport is UdpHeader);
        Assert.Contains(first, p => p.Transport is IcmpHeader);
    }
}
