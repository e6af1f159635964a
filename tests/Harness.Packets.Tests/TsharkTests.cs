using Xunit.Abstractions;

namespace Harness.Packets.Tests;

/// <summary>Files Harness writes are read by tshark without a warning: no malformed packet, no bad checksum.</summary>
public sealed class TsharkTests(ITestOutputHelper output) : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("hx-packets-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>tshark's expert info at warning level and above, checksums checked, for a file.</summary>
    internal static string ExpertWarnings(string file)
    {
        var (exit, text, err) = ExternalTools.Run("tshark", "-r", file, "-q",
            "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
            "-z", "expert,warn");
        Assert.True(exit == 0, $"tshark failed on {file}: {err}");
        return text;
    }

    [Fact]
    public void GeneratedSampleFlowsHaveNoExpertWarnings()
    {
        if (!ExternalTools.Available("tshark", out var why)) { output.WriteLine(why); return; }
        var file = Path.Combine(directory, "every-kind.pcapng");
        FlowGenerator.WritePcapng(FlowGenerator.Load(GeneratorTests.SampleFlows), 1, file);
        var report = ExpertWarnings(file);
        output.WriteLine(report);
        AssertNoPacketProblems(report);
    }

    [Fact]
    public void TsharkSeesTheInterfacesDirectionsTimesAndVlans()
    {
        if (!ExternalTools.Available("tshark", out var why)) { output.WriteLine(why); return; }
        var file = Path.Combine(directory, "every-kind.pcapng");
        var spec = FlowGenerator.Load(GeneratorTests.SampleFlows);
        FlowGenerator.WritePcapng(spec, 1, file);
        var packets = FlowGenerator.Generate(spec, 1).ToList();
        var (exit, text, err) = ExternalTools.Run("tshark", "-r", file, "-T", "fields", "-E", "occurrence=f",
            "-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.time_epoch", "-e", "vlan.id", "-e", "ip.id");
        Assert.True(exit == 0, err);
        var rows = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => r.Split('\t')).ToList();
        Assert.Equal(packets.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var p = packets[i];
            Assert.Equal(p.Interface, rows[i][0]);
            Assert.Equal(p.Direction == PacketDirection.Inbound ? 1 : 2, Convert.ToInt32(rows[i][1], 16));
            Assert.Equal(p.Time.ToString(), rows[i][2]);
            Assert.Equal(p.Link!.VlanIds.IsDefaultOrEmpty ? "" : p.Link.VlanIds[0].ToString(System.Globalization.CultureInfo.InvariantCulture), rows[i][3]);
            if (p.Ip!.Family == Harness.Net.Family.IPv4)
                Assert.Equal(p.Ip.Id, Convert.ToUInt32(rows[i][4], 16));
        }
        var ids = packets.Where(p => p.Ip!.Family == Harness.Net.Family.IPv4).Select(p => p.Ip!.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    /// <summary>
    /// Fails on any checksum complaint and on any malformed-packet complaint about the layers Harness writes (Ethernet,
    /// VLAN, IP, IPv6, TCP, UDP, ICMP, ICMPv6, SCTP). Application dissectors guessing from a port (DNS on 53, …) that
    /// find filler payload, and TCP sequence notes a scenario means to cause (RST, out-of-window), are not packet faults.
    /// </summary>
    internal static void AssertNoPacketProblems(string report)
    {
        string[] layers = ["ETH", "VLAN", "IP", "IPV6", "TCP", "UDP", "ICMP", "ICMPV6", "SCTP", "FRAME"];
        foreach (var line in report.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4 || !fields[0].All(char.IsAsciiDigit)) continue;
            string group = fields[1], protocol = fields[2].ToUpperInvariant();
            Assert.False(group == "Checksum", "tshark: " + line.Trim());
            Assert.False(group == "Malformed" && layers.Contains(protocol), "tshark: " + line.Trim());
            Assert.False(group == "Protocol" && layers.Contains(protocol), "tshark: " + line.Trim());
        }
    }
}
