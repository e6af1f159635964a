using System.Diagnostics;
using System.Globalization;
using Harness.Net;
using Xunit.Abstractions;

namespace Harness.Packets.Tests;

/// <summary>
/// The real kernel is the referee for the replies PacketBuilder makes: REJECT's TCP RST and ICMP port unreachable
/// are captured from a firewall namespace and compared field by field with TcpReset / IcmpError for the same packet.
/// Skips (printing why) without root, ip, iptables, tcpdump or tcpreplay.
/// </summary>
public sealed class KernelReplyTests(ITestOutputHelper output)
{
    private static readonly Address Peer4 = Address.Parse("10.99.0.2"), Firewall4 = Address.Parse("10.99.0.1");
    private static readonly Address Peer6 = Address.Parse("2001:db8:99::2"), Firewall6 = Address.Parse("2001:db8:99::1");
    private static readonly MacAddress PeerMac = MacAddress.Parse("02:99:00:00:00:02"), FirewallMac = MacAddress.Parse("02:99:00:00:00:01");

    private static bool KernelAvailable(out string why)
    {
        foreach (var tool in new[] { "id", "ip", "iptables", "tcpdump", "tcpreplay", "ethtool" })
            if (ExternalTools.Find(tool) is null) { why = $"SKIPPED: {tool} is not on PATH"; return false; }
        if (ExternalTools.Run("id", "-u").Out.Trim() != "0") { why = "SKIPPED: not root"; return false; }
        why = "";
        return true;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RejectRepliesMatchTheKernels(bool v6)
    {
        if (!KernelAvailable(out var why)) { output.WriteLine(why); return; }
        var (Peer, Firewall) = v6 ? (Peer6, Firewall6) : (Peer4, Firewall4);
        string prefix = string.Create(CultureInfo.InvariantCulture, $"hx-pk-{Environment.ProcessId}-{(v6 ? 6 : 4)}");
        string fw = prefix + "-fw", peer = prefix + "-peer";
        var work = Directory.CreateTempSubdirectory(prefix).FullName;
        try
        {
            Setup(fw, peer, v6);
            var syn = Frame(PacketBuilderTests.Tcp(Peer, Firewall, TcpFlags.Syn, 1000, 0, 0, id: 101) with { Interface = "p0" });
            var data = Frame(PacketBuilderTests.Tcp(Peer, Firewall, TcpFlags.Ack | TcpFlags.Psh, 5000, 777, 30, id: 102) with { Interface = "p0" });
            var udp = Frame(PacketBuilderTests.Udp(Peer, Firewall, 20) with { Interface = "p0" });
            var replies = Exchange(peer, work, [syn, data, udp]);
            Assert.Equal(3, replies.Count);

            Compare(PacketBuilder.TcpReset(syn), replies[0], compareId: true);
            Compare(PacketBuilder.TcpReset(data), replies[1], compareId: true);
            // The kernel picks the ICMP error's IP id itself (ip_select_ident): everything else must agree.
            Compare(v6 ? PacketBuilder.IcmpError(udp, 1, 4, Firewall) : PacketBuilder.IcmpError(udp, 3, 3, Firewall), replies[2], compareId: false);
            output.WriteLine($"kernel RST (SYN), RST (ACK) and port unreachable match PacketBuilder ({(v6 ? "IPv6" : "IPv4")})");
        }
        finally
        {
            ExternalTools.Run("ip", "netns", "del", fw);
            ExternalTools.Run("ip", "netns", "del", peer);
            Directory.Delete(work, recursive: true);
        }
    }

    private static Packet Frame(Packet packet) => packet with { Link = new LinkHeader(PeerMac, FirewallMac, [], 0), Direction = PacketDirection.Outbound };

    private static void Compare(Packet expected, Packet actual, bool compareId)
    {
        var (e, a) = (expected.Ip!, actual.Ip!);
        Assert.Equal((e.Source, e.Destination, e.Protocol, e.Ttl, e.Tos, e.TotalLength, e.DontFragment), (a.Source, a.Destination, a.Protocol, a.Ttl, a.Tos, a.TotalLength, a.DontFragment));
        if (compareId) Assert.Equal(e.Id, a.Id);
        Assert.True(actual.Transport!.ChecksumValid);
        int offset = e.HeaderLength;
        // Transport bytes (checksum included) must be identical: same fields, same quote.
        Assert.Equal(expected.Raw.Span[offset..].ToArray(), actual.Raw.Span[a.HeaderLength..].ToArray());
    }

    private static void Run(params string[] arguments)
    {
        var (exit, _, err) = ExternalTools.Run(arguments[0], arguments[1..]);
        Assert.True(exit == 0, $"{string.Join(' ', arguments)} failed: {err}");
    }

    private static void Setup(string fw, string peer, bool v6)
    {
        Run("ip", "netns", "add", fw);
        Run("ip", "netns", "add", peer);
        Run("ip", "netns", "exec", fw, "ip", "link", "add", "f0", "address", FirewallMac.ToString(), "type", "veth", "peer", "name", "p0", "netns", peer);
        Run("ip", "netns", "exec", peer, "ip", "link", "set", "p0", "address", PeerMac.ToString());
        foreach (var (ns, dev, address) in new[] { (fw, "f0", v6 ? "2001:db8:99::1/64" : "10.99.0.1/24"), (peer, "p0", v6 ? "2001:db8:99::2/64" : "10.99.0.2/24") })
        {
            if (!v6) Run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
            if (v6) Run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.router_solicitations=0");
            Run(["ip", "netns", "exec", ns, "ip", "addr", "add", address, "dev", dev, .. (v6 ? new[] { "nodad" } : [])]);
            Run("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up");
            Run("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off");
        }
        string tables = v6 ? "ip6tables" : "iptables";
        Run("ip", "netns", "exec", fw, "sysctl", "-q", "-w", v6 ? "net.ipv6.icmp.ratelimit=0" : "net.ipv4.icmp_ratelimit=0");
        Run("ip", "netns", "exec", fw, "ip", "neigh", "replace", v6 ? "2001:db8:99::2" : "10.99.0.2", "lladdr", PeerMac.ToString(), "nud", "permanent", "dev", "f0");
        Run("ip", "netns", "exec", fw, tables, "-A", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset");
        Run("ip", "netns", "exec", fw, tables, "-A", "INPUT", "-p", "udp", "-j", "REJECT");
        // The peer's own stack stays silent: it must not answer the firewall's replies.
        Run("ip", "netns", "exec", peer, tables, "-A", "INPUT", "-j", "DROP");
    }

    /// <summary>Injects the packets one at a time from the peer and returns what the firewall sent back.</summary>
    private static List<Packet> Exchange(string peer, string work, IReadOnlyList<Packet> packets)
    {
        var input = Path.Combine(work, "in.pcapng");
        var capture = Path.Combine(work, "out.pcap");
        PcapngWriter.WriteFile(input, packets);
        var info = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", peer, "tcpdump", "-U", "--immediate-mode", "-Q", "in", "-n", "-i", "p0", "-w", capture })
            info.ArgumentList.Add(a);
        using var tcpdump = Process.Start(info)!;
        try
        {
            var deadline = Stopwatch.StartNew();
            while (!File.Exists(capture) && deadline.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(50);
            Thread.Sleep(300);
            Run("ip", "netns", "exec", peer, "tcpreplay", "-q", "-i", "p0", "--pps", "20", input);
            Thread.Sleep(500);
        }
        finally
        {
            ExternalTools.Run("kill", "-INT", tcpdump.Id.ToString(CultureInfo.InvariantCulture));
            if (!tcpdump.WaitForExit(5000)) tcpdump.Kill();
        }
        // Only the replies: neighbour discovery and other chatter of the namespaces' own stacks are left out.
        return CaptureReader.Read(capture)
            .Where(p => p.Transport is TcpHeader || p.Transport is IcmpHeader { IsError: true })
            .ToList();
    }
}
