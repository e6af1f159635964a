using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;
using static Harness.Engine.Tests.Support.TestRules;
using PacketTcpFlags = Harness.Net.TcpFlags;

namespace Harness.Engine.Tests.Support;

/// <summary>
/// Decodes FsCheck-generated integers into rules and packets from a small vocabulary, so that rules and packets
/// often meet (and FsCheck shrinks the integers). Same integers, same rules and packets.
/// </summary>
public static class Decode
{
    private static readonly string?[] Sources = [null, "10.0.0.0/8", "10.1.0.0/16", "192.168.1.50/32"];
    private static readonly string?[] Destinations = [null, "203.0.113.1/32", "192.168.1.1/32", "198.51.100.0/24"];
    private static readonly byte[] Protocols = [0, IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmp];
    private static readonly ushort[] Ports = [0, 22, 80, 53];
    private static readonly string?[] Interfaces = [null, "eth0", "eth1", "eth+"];

    private static readonly string[] PacketSources = ["10.1.2.3", "10.9.9.9", "192.168.1.50", "192.168.1.77", "198.51.100.7", "8.8.8.8"];
    private static readonly string[] PacketDestinations = ["203.0.113.1", "192.168.1.1", "198.51.100.9", "8.8.4.4", "192.168.1.50"];

    private static int Bits(int value, int shift, int count) => (int)(((uint)value >> shift) & ((1u << count) - 1));

    /// <summary>The match part of a rule (no target) from bits 0-13 of <paramref name="c"/>.</summary>
    public static (IpHeaderMatch Ip, MatchExtension[] Matches) Match(int c)
    {
        var src = Sources[Bits(c, 0, 2)];
        var dst = Destinations[Bits(c, 2, 2)];
        var proto = Protocols[Bits(c, 4, 2)];
        var port = Ports[Bits(c, 6, 2)];
        var iface = Interfaces[Bits(c, 8, 2)];
        var ip = new IpHeaderMatch(
            Source: src is null ? null : Cidr4(src, Bits(c, 10, 1) == 1),
            Destination: dst is null ? null : Cidr4(dst, Bits(c, 11, 1) == 1),
            InInterface: iface is null ? null : If(iface, Bits(c, 12, 1) == 1),
            Protocol: proto == 0 ? null : Proto(proto, Bits(c, 13, 1) == 1 && port == 0));
        MatchExtension[] matches = (proto, port) switch
        {
            (IpProtocol.Tcp, > 0) when Bits(c, 13, 1) == 0 => [new TcpMatch(null, new Negatable<PortRange>(new PortRange(port, port), false), null, null)],
            (IpProtocol.Udp, > 0) when Bits(c, 13, 1) == 0 => [new UdpMatch(null, new Negatable<PortRange>(new PortRange(port, port), false))],
            _ => [],
        };
        return (ip, matches);
    }

    /// <summary>A whole rule: the match from bits 0-13, the target from bits 14-16 (jumps only when a user chain exists).</summary>
    public static Rule Rule(int c, bool allowJump)
    {
        var (ip, matches) = Match(c);
        Target? target = Bits(c, 14, 3) switch
        {
            0 or 1 => Accept,
            2 or 3 => Drop,
            4 => Return,
            5 => allowJump ? Jump("USER") : null,
            6 => new LogTarget(4, "P: ", LogFlags.None),
            _ => null,
        };
        return TestRules.Rule(ip, target, TableNames.Filter, matches);
    }

    public static Ruleset Ruleset(int[] inputRules, int[] userRules, bool inputPolicyDrop)
    {
        var user = userRules.Take(20).Select(c => Rule(c, allowJump: false)).ToArray();
        var input = inputRules.Take(40).Select(c => Rule(c, allowJump: true)).ToArray();
        var forward = inputRules.Reverse().Take(40).Select(c => Rule(c ^ 0x5555, allowJump: true)).ToArray();
        return Filter(
            Chain("INPUT", inputPolicyDrop ? Verdict.Drop : Verdict.Accept, input),
            Chain("FORWARD", Verdict.Drop, forward),
            Chain("OUTPUT", Verdict.Accept),
            Chain("USER", null, user));
    }

    public static Packet Packet(int c, int number)
    {
        var src = PacketSources[(int)((uint)c % (uint)PacketSources.Length)];
        var dst = PacketDestinations[Bits(c, 3, 3) % PacketDestinations.Length];
        var iface = Bits(c, 6, 1) == 0 ? "eth0" : "eth1";
        var port = Ports[1 + Bits(c, 7, 2) % 3];
        double time = 1 + number * 0.25;
        return Bits(c, 9, 2) switch
        {
            0 or 1 => P.Tcp(src, (ushort)(20000 + Bits(c, 11, 4)), dst, port, PacketTcpFlags.Syn, iface, number, time),
            2 => P.Udp(src, (ushort)(20000 + Bits(c, 11, 4)), dst, port, iface, number, time),
            _ => P.Ping(src, dst, iface, number, time),
        };
    }

    public static List<Packet> Packets(int[] choices) => [.. choices.Take(30).Select((c, i) => Packet(c, i + 1))];

    /// <summary>Every field of an outcome that a golden file or a reader would compare, as one line.</summary>
    public static string Describe(Outcome o) => string.Join(" | ",
        o.PacketNumber, o.Generated, o.InInterface, o.OutInterface, o.Verdict, o.Disposition, o.DecidingRule, o.Reason, o.DroppedAt,
        o.Packet.Ip?.Source, o.Packet.Ip?.Destination, o.Packet.Ip?.Ttl, o.Mark,
        string.Join(",", o.Path.Select(p => p.ToString())), string.Join(",", o.Log),
        o.Conntrack?.StateSeen, o.Conntrack?.TcpStateBefore, o.Conntrack?.TcpStateAfter, o.Conntrack?.Nat);
}
