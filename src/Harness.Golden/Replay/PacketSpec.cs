using System.Globalization;
using Harness.Net;
using Harness.Packets;

namespace Harness.Golden.Replay;

/// <summary>
/// One packet written as text for <c>harness trace</c>:
/// <c>PROTO SRC[:PORT] -> DST[:PORT] [FLAGS] [in IFACE] [at SECONDS] [ttl N]</c>, e.g.
/// <c>tcp 10.1.0.2:40000 -> 10.2.0.2:80 syn in lan0</c>, <c>udp [fd00::2]:5353 -> [fd00::1]:53 in lan0</c>,
/// <c>icmp 10.1.0.2 -> 10.1.0.1 echo-request</c>, <c>icmp 10.1.0.2 -> 10.1.0.1 type 3 code 1</c>.
/// TCP flags: syn, ack, fin, rst, psh, urg joined by ',' or '+' (default: syn).
/// </summary>
public static class PacketSpec
{
    public static Packet Parse(string text, long number = 1, Timestamp? defaultTime = null)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        int i = 0;
        string Next(string what) => i < words.Length ? words[i++] : throw Error(text, $"expected {what} after '{string.Join(' ', words[..i])}'");
        var proto = Next("a protocol (tcp, udp, icmp, icmpv6)").ToLowerInvariant();
        var (src, sport) = Endpoint(text, Next("the source address"));
        if (Next("'->'") != "->") throw Error(text, "expected '->' between source and destination");
        var (dst, dport) = Endpoint(text, Next("the destination address"));
        if (src.Family != dst.Family) throw Error(text, "source and destination are of different families");

        string? iface = null;
        var time = defaultTime ?? new Timestamp(number * 1_000_000_000L);
        byte ttl = 64;
        var flags = TcpFlags.None;
        int? icmpType = null, icmpCode = null;
        while (i < words.Length)
        {
            var w = words[i++].ToLowerInvariant();
            switch (w)
            {
                case "in": iface = Next("an interface name"); break;
                case "at": time = Timestamp.FromSeconds(Number(text, Next("seconds"), 0, double.MaxValue)); break;
                case "ttl": ttl = (byte)Number(text, Next("a TTL"), 1, 255); break;
                case "type": icmpType = (int)Number(text, Next("an ICMP type"), 0, 255); break;
                case "code": icmpCode = (int)Number(text, Next("an ICMP code"), 0, 255); break;
                case "echo-request": icmpType = src.Family == Family.IPv4 ? 8 : 128; break;
                case "echo-reply": icmpType = src.Family == Family.IPv4 ? 0 : 129; break;
                default:
                    if (proto != "tcp") throw Error(text, $"unexpected '{w}' (expected in, at, ttl, or for ICMP: echo-request, echo-reply, type N code N)");
                    flags |= Flags(text, w);
                    break;
            }
        }

        int sp = sport ?? 40000, dp = dport ?? 80;
        TransportHeader transport = proto switch
        {
            "tcp" => new TcpHeader((ushort)sp, (ushort)dp, 1000, (flags == TcpFlags.None ? TcpFlags.Syn : flags).HasFlag(TcpFlags.Ack) ? 1u : 0u,
                flags == TcpFlags.None ? TcpFlags.Syn : flags, 64240),
            "udp" => new UdpHeader((ushort)sp, (ushort)dp, 8),
            "icmp" when src.Family == Family.IPv4 => new IcmpHeader((byte)(icmpType ?? 8), (byte)(icmpCode ?? 0), false) { Identifier = 1, SequenceNumber = (ushort)number },
            "icmpv6" or "icmp6" or "ipv6-icmp" when src.Family == Family.IPv6 => new IcmpHeader((byte)(icmpType ?? 128), (byte)(icmpCode ?? 0), true) { Identifier = 1, SequenceNumber = (ushort)number },
            _ => throw Error(text, $"unsupported protocol '{proto}' for {src.Family} (expected tcp, udp, icmp or icmpv6)"),
        };
        if (proto is "icmp" or "icmpv6" or "icmp6" or "ipv6-icmp" && (sport is not null || dport is not null))
            throw Error(text, "ICMP has no ports");
        byte protocol = proto switch { "tcp" => 6, "udp" => 17, "icmp" => 1, _ => 58 };
        var ip = new IpHeader
        {
            Family = src.Family,
            Source = src,
            Destination = dst,
            Protocol = protocol,
            Ttl = ttl,
            TotalLength = 0,
            HeaderLength = src.Family == Family.IPv4 ? 20 : 40,
            Id = src.Family == Family.IPv4 ? (uint)(number & 0xFFFF) : 0,
            DontFragment = src.Family == Family.IPv4,
        };
        return PacketBuilder.Create(number, time, ip, transport, ReadOnlySpan<byte>.Empty, iface, iface is null ? PacketDirection.Unknown : PacketDirection.Inbound);
    }

    private static (Address Address, int? Port) Endpoint(string text, string word)
    {
        string addr = word;
        string? port = null;
        if (word.StartsWith('['))
        {
            int close = word.IndexOf(']');
            if (close < 0) throw Error(text, $"missing ']' in '{word}'");
            addr = word[1..close];
            if (close + 1 < word.Length)
            {
                if (word[close + 1] != ':') throw Error(text, $"expected ':PORT' after ']' in '{word}'");
                port = word[(close + 2)..];
            }
        }
        else if (word.Count(c => c == ':') == 1)
        {
            addr = word[..word.IndexOf(':')];
            port = word[(word.IndexOf(':') + 1)..];
        }
        if (!Address.TryParse(addr, out var a)) throw Error(text, $"invalid address '{addr}'");
        if (port is null) return (a, null);
        return ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p)
            ? (a, p)
            : throw Error(text, $"invalid port '{port}'");
    }

    private static TcpFlags Flags(string text, string word)
    {
        var result = TcpFlags.None;
        foreach (var f in word.Split([',', '+', '|'], StringSplitOptions.RemoveEmptyEntries))
        {
            result |= f switch
            {
                "syn" => TcpFlags.Syn,
                "ack" => TcpFlags.Ack,
                "fin" => TcpFlags.Fin,
                "rst" => TcpFlags.Rst,
                "psh" => TcpFlags.Psh,
                "urg" => TcpFlags.Urg,
                "synack" => TcpFlags.Syn | TcpFlags.Ack,
                _ => throw Error(text, $"unknown TCP flag '{f}' (expected syn, ack, fin, rst, psh, urg)"),
            };
        }
        return result;
    }

    private static double Number(string text, string word, double min, double max) =>
        double.TryParse(word, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw Error(text, $"invalid number '{word}'");

    private static FormatException Error(string text, string detail) => new($"packet \"{text}\": {detail}");
}
