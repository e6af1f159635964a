using System.Collections.Immutable;
using Harness.Net;
using Xunit.Abstractions;

namespace Harness.Packets.Tests;

public sealed class GeneratorTests(ITestOutputHelper output)
{
    internal static string SampleFlows => Path.Combine(RepositoryRoot(), "captures", "flows", "every-kind.yaml");

    internal static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Harness.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("Harness.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void SampleFlowsRoundTripThroughPcapng()
    {
        var spec = FlowGenerator.Load(SampleFlows);
        var generated = FlowGenerator.Generate(spec, seed: 7).ToList();
        using var memory = new MemoryStream();
        FlowGenerator.WritePcapng(spec, 7, memory);
        memory.Position = 0;
        var read = CaptureReader.Read(memory, "generated").ToList();
        Assert.Equal(generated.Count, read.Count);
        for (int i = 0; i < read.Count; i++)
        {
            var a = generated[i];
            var b = read[i];
            Assert.Equal(a.Number, b.Number);
            Assert.Equal(a.Time, b.Time);
            Assert.Equal(a.Interface, b.Interface);
            Assert.Equal(a.Direction, b.Direction);
            Assert.Equal(a.Raw.ToArray(), b.Raw.ToArray());
            Assert.Equal(a.Link!.Source, b.Link!.Source);
            Assert.Equal(a.Link.Destination, b.Link.Destination);
            Assert.Equal(a.Link.VlanIds.ToArray(), b.Link.VlanIds.ToArray());
            Assert.Null(b.DecodeError);
            Assert.True(b.Ip!.HeaderChecksumValid);
            Assert.True(b.Transport!.ChecksumValid, $"packet {b.Number} checksum");
        }
        output.WriteLine($"{read.Count} packets generated, written and read back identically");
    }

    [Fact]
    public void SameSeedSameBytesOtherSeedOtherBytes()
    {
        var spec = FlowGenerator.Load(SampleFlows);
        byte[] Bytes(int seed)
        {
            using var memory = new MemoryStream();
            FlowGenerator.WritePcapng(spec, seed, memory);
            return memory.ToArray();
        }
        Assert.Equal(Bytes(3), Bytes(3));
        Assert.NotEqual(Bytes(3), Bytes(4));
    }
}
