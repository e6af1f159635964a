using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Net;
using Xunit.Abstractions;

namespace Harness.Packets.Tests;

/// <summary>Every shared real capture is read to the end, packet for packet as tcpdump reads it.</summary>
public sealed partial class RealCaptureTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryRealCaptureHasTcpdumpsPacketCountAndAddresses()
    {
        var root = ExternalTools.RealPcaps(out var why);
        if (root is null) { output.WriteLine(why); return; }
        if (!ExternalTools.Available("tcpdump", out why)) { output.WriteLine(why); return; }

        int files = 0, compared = 0;
        foreach (var file in ExternalTools.RealCaptureFiles(root))
        {
            var packets = CaptureReader.Read(file, new CaptureOptions("eth0")).ToList();
            var (exit, text, err) = ExternalTools.Run("tcpdump", "-nn", "-r", file);
            Assert.True(exit == 0, $"tcpdump failed on {file}: {err}");
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == packets.Count, $"{file}: tcpdump reads {lines.Length} packets, Harness {packets.Count}");
            for (int i = 0; i < packets.Count; i++)
            {
                Assert.Equal(i + 1, packets[i].Number);
                var expected = Endpoints(lines[i]);
                if (expected is null) continue;
                Assert.True(packets[i].Ip is not null, $"{file} packet {i + 1}: tcpdump sees IP ({lines[i]}), Harness: {packets[i].DecodeError}");
                Assert.Equal(expected, Format(packets[i]));
                compared++;
            }
            files++;
        }
        output.WriteLine($"{files} captures read, {compared} packets' addresses and ports compared with tcpdump -nn");
        Assert.True(files >= 50, $"only {files} capture files found in {root}");
    }

    [Fact]
    public void SpecificFieldsMatchWhatTheCapturesHold()
    {
        var root = ExternalTools.RealPcaps(out var why);
        if (root is null) { output.WriteLine(why); return; }

        var nano = CaptureReader.Read(Path.Combine(root, "tcpdump/tcp-handshake-nano.pcap")).ToList();
        Assert.Equal(3, nano.Count);
        Assert.Equal(TcpFlags.Syn, ((TcpHeader)nano[0].Transport!).Flags);
        Assert.Equal(797190859u, ((TcpHeader)nano[0].Transport!).Sequence);
        Assert.Equal(0, nano[0].Time.Nanoseconds % 1000 == 0 ? 1 : 0); // nanosecond file: not a whole microsecond
        Assert.All(nano, p => Assert.True(((TcpHeader)p.Transport!).ChecksumValid));

        var sll2 = CaptureReader.Read(Path.Combine(root, "zeek/tls_openjdk-25.0.2-zeek.org.pcap"),
            new CaptureOptions("eth9", new Dictionary<int, string>())).ToList();
        Assert.Equal(PacketDirection.Outbound, sll2[0].Direction);
        Assert.Equal(PacketDirection.Inbound, sll2[1].Direction);

        var unreachable = CaptureReader.Read(Path.Combine(root, "zeek/icmp_icmp-destunreach-udp.pcap")).Single();
        var icmp = Assert.IsType<IcmpHeader>(unreachable.Transport);
        Assert.True(icmp.IsError);
        Assert.Equal(3, icmp.Type);
        Assert.NotNull(icmp.Quoted);
        Assert.IsType<UdpHeader>(icmp.Quoted!.Transport);
        Assert.Equal(unreachable.Ip!.Source.Family, icmp.Quoted.Ip.Source.Family);

        var toobig = CaptureReader.Read(Path.Combine(root, "zeek/icmp_icmp6-toobig.pcap")).Single();
        var icmp6 = Assert.IsType<IcmpHeader>(toobig.Transport);
        Assert.True(icmp6.IsV6);
        Assert.Equal(2, icmp6.Type);
        Assert.True(icmp6.Mtu > 0);

        var pmtu = CaptureReader.Read(Path.Combine(root, "zeek/smtp.pcap"))
            .Where(p => p.Transport is IcmpHeader { Type: 3, Code: 4 }).ToList();
        Assert.NotEmpty(pmtu);
        Assert.All(pmtu, p =>
        {
            var error = (IcmpHeader)p.Transport!;
            Assert.True(error.Mtu is > 0 and < 1500);
            Assert.IsType<TcpHeader>(error.Quoted!.Transport);
            Assert.Equal(p.Ip!.Destination, error.Quoted.Ip.Source); // the error goes back to the quoted packet's sender
        });

        var qinq = CaptureReader.Read(Path.Combine(root, "zeek/q-in-q.pcap")).First();
        Assert.Equal(2, qinq.Link!.VlanIds.Length);

        var fragments = CaptureReader.Read(Path.Combine(root, "zeek/ipv6-fragmented-dns.pcap")).ToList();
        Assert.Contains(fragments, p => p.Ip is { IsFragment: true, Family: Family.IPv6 } && p.Ip.ExtensionHeaders.Contains(IpProtocol.Ipv6Frag));
        Assert.Contains(fragments, p => p.Ip is { IsLaterFragment: true } && p.Transport is null);

        var v4fragments = CaptureReader.Read(Path.Combine(root, "zeek/ipv4_fragmented-1.pcap")).ToList();
        Assert.Contains(v4fragments, p => p.Ip is { MoreFragments: true, FragmentOffset: 0 });
        Assert.Contains(v4fragments, p => p.Ip is { IsLaterFragment: true });

        var arp = CaptureReader.Read(Path.Combine(root, "zeek/linuxsll-arp.pcap")).ToList();
        Assert.All(arp, p => Assert.True(p.Ip is null && p.DecodeError is null));
    }

    [Fact]
    public void ChecksumVerdictsAgreeWithTshark()
    {
        var root = ExternalTools.RealPcaps(out var why);
        if (root is null) { output.WriteLine(why); return; }
        if (!ExternalTools.Available("tshark", out why)) { output.WriteLine(why); return; }

        int compared = 0, bad = 0;
        // tshark mostly waits for its own start-up: run a few at once.
        var verdicts = ExternalTools.RealCaptureFiles(root).AsParallel().AsOrdered().WithDegreeOfParallelism(4)
            .Select(file => (File: file, Result: ExternalTools.Run("tshark", "-r", file, "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "occurrence=f",
                "-e", "ip.checksum.status", "-e", "tcp.checksum.status", "-e", "udp.checksum.status",
                "-e", "icmp.checksum.status", "-e", "icmpv6.checksum.status")))
            .ToList();
        foreach (var (file, (exit, text, err)) in verdicts)
        {
            Assert.True(exit == 0, $"tshark failed on {file}: {err}");
            var rows = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var packets = CaptureReader.Read(file).ToList();
            Assert.Equal(rows.Length, packets.Count);
            for (int i = 0; i < packets.Count; i++)
            {
                var p = packets[i];
                var fields = rows[i].Split('\t');
                if (p.Ip is null) continue;
                if (p.Ip.Family == Family.IPv4 && fields[0] is "0" or "1")
                {
                    Assert.True(p.Ip.HeaderChecksumValid == (fields[0] == "1"), $"{file} #{p.Number}: IPv4 header checksum, tshark says {fields[0]}");
                    compared++;
                }
                // The kernel checksums against the current destination; tshark against a routing header's final one.
                if (p.Ip.ExtensionHeaders.Contains(IpProtocol.Ipv6Route)) continue;
                int column = p.Transport switch { TcpHeader => 1, UdpHeader => 2, IcmpHeader { IsV6: false } => 3, IcmpHeader => 4, _ => -1 };
                if (column < 0 || fields[column] is not ("0" or "1")) continue;
                Assert.True(p.Transport!.ChecksumValid == (fields[column] == "1"),
                    $"{file} #{p.Number}: {p.Transport.GetType().Name} checksum valid={p.Transport.ChecksumValid}, tshark status {fields[column]}");
                compared++;
                if (fields[column] == "0") bad++;
            }
        }
        output.WriteLine($"{compared} checksum verdicts agree with tshark ({bad} bad transport checksums, mostly from transmit offload)");
        Assert.True(compared > 300);
    }

    /// <summary>"src > dst" as tcpdump -nn prints the outer IP header (ports for the first fragment / whole packet), or null for non-IP lines.</summary>
    private static string? Endpoints(string line)
    {
        var m = EndpointPattern().Match(line);
        return m.Success ? $"{m.Groups[1].Value} {m.Groups[2].Value} > {m.Groups[3].Value}" : null;
    }

    private static string Format(Packet p)
    {
        var ip = p.Ip!;
        string kind = ip.Family == Family.IPv4 ? "IP" : "IP6";
        (ushort, ushort)? ports = p.Transport switch
        {
            TcpHeader t => (t.SourcePort, t.DestinationPort),
            UdpHeader u => (u.SourcePort, u.DestinationPort),
            SctpHeader s => (s.SourcePort, s.DestinationPort),
            _ => null,
        };
        // tcpdump prints IPv6 ports after the extension headers, not beside the addresses.
        if (!ip.ExtensionHeaders.IsDefaultOrEmpty) ports = null;
        return ports is { } pp
            ? string.Create(CultureInfo.InvariantCulture, $"{kind} {ip.Source}.{pp.Item1} > {ip.Destination}.{pp.Item2}")
            : $"{kind} {ip.Source} > {ip.Destination}";
    }

    [GeneratedRegex(@"\b(IP6?) (\S+) > (\S+):(?: |$)")]
    private static partial Regex EndpointPattern();
}
