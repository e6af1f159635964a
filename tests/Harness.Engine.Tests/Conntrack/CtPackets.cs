using System.Text;
using Harness.Engine.Conntrack;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>Builds real packets (bytes and decoded fields, via PacketBuilder) for the conntrack tests.</summary>
internal static class CtPackets
{
    private static long number;

    public static Address A(string text) => Address.Parse(text);

    public static Timestamp T(double seconds) => Timestamp.FromSeconds(1_700_000_000 + seconds);

    private static IpHeader Ip(string src, string dst, byte protocol) => new()
    {
        Family = A(src).Family,
        Source = A(src),
        Destination = A(dst),
        Protocol = protocol,
        Ttl = 64,
        TotalLength = 0,
        HeaderLength = 0,
    };

    public static Packet Tcp(double t, string src, ushort sport, string dst, ushort dport, TcpFlags flags, uint seq, uint ack,
        string payload = "", ushort window = 64240, byte[]? options = null)
    {
        var ip = Ip(src, dst, IpProtocol.Tcp);
        var tcp = new TcpHeader(sport, dport, seq, ack, flags, window) { Options = options ?? [] };
        return PacketBuilder.Create(++number, T(t), ip, tcp, Encoding.ASCII.GetBytes(payload));
    }

    public static Packet Udp(double t, string src, ushort sport, string dst, ushort dport, string payload = "x")
    {
        var ip = Ip(src, dst, IpProtocol.Udp);
        return PacketBuilder.Create(++number, T(t), ip, new UdpHeader(sport, dport, 0), Encoding.ASCII.GetBytes(payload));
    }

    public static Packet Echo(double t, string src, string dst, bool request, ushort id, ushort seq = 1)
    {
        bool v6 = A(src).Family == Family.IPv6;
        var ip = Ip(src, dst, v6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp);
        byte type = v6 ? (byte)(request ? 128 : 129) : (byte)(request ? 8 : 0);
        return PacketBuilder.Create(++number, T(t), ip, new IcmpHeader(type, 0, v6) { Identifier = id, SequenceNumber = seq }, new byte[8]);
    }

    /// <summary>An SCTP packet with the given verification tag and chunks (type, flags, value bytes), CRC32c computed.</summary>
    public static Packet Sctp(double t, string src, ushort sport, string dst, ushort dport, uint vtag, params (byte Type, byte Flags, byte[] Value)[] chunks)
    {
        var body = new List<byte>();
        foreach (var (type, flags, value) in chunks)
        {
            int len = 4 + value.Length;
            body.AddRange([type, flags, (byte)(len >> 8), (byte)len]);
            body.AddRange(value);
            while (body.Count % 4 != 0) body.Add(0);
        }
        var ip = Ip(src, dst, IpProtocol.Sctp);
        return PacketBuilder.Create(++number, T(t), ip, new SctpHeader(sport, dport, vtag), body.ToArray());
    }

    /// <summary>The value of an INIT / INIT_ACK chunk: initiate tag, a_rwnd, streams, initial TSN.</summary>
    public static byte[] InitValue(uint tag) =>
        [(byte)(tag >> 24), (byte)(tag >> 16), (byte)(tag >> 8), (byte)tag, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1];

    public static Packet Generic(double t, string src, string dst, byte protocol)
    {
        var ip = Ip(src, dst, protocol);
        return PacketBuilder.Create(++number, T(t), ip, new OtherTransport(protocol), new byte[16]);
    }

    /// <summary>An ICMP error from <paramref name="source"/> quoting <paramref name="offending"/>.</summary>
    public static Packet IcmpError(double t, Packet offending, string source, byte type = 3, byte code = 3) =>
        PacketBuilder.IcmpError(offending, type, code, A(source)) with { Time = T(t) };

    /// <summary>Decodes the packet's bytes again: proves Raw agrees with the fields and the checksums are right.</summary>
    public static Packet Redecoded(Packet p) => PacketDecoder.Decode(p.Raw.Span, p.Number, p.Time);

    public static (ushort Src, ushort Dst) Ports(Packet p) => p.Transport switch
    {
        TcpHeader t => (t.SourcePort, t.DestinationPort),
        UdpHeader u => (u.SourcePort, u.DestinationPort),
        _ => (0, 0),
    };

    /// <summary>"src:sport>dst:dport" of a packet, for compact assertions.</summary>
    public static string Flow(Packet p)
    {
        var (s, d) = Ports(p);
        return $"{p.Ip!.Source}:{s}>{p.Ip.Destination}:{d}";
    }

    public static ConntrackTable Table(ConntrackSettings? settings = null) => new(settings ?? ConntrackSettings.Default);
}
