using System.Globalization;
using System.Text;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Targets;

/// <summary>
/// Writes a packet the way the kernel's nf_log_syslog does for LOG (and NFLOG's text form):
/// "PREFIXIN=eth0 OUT= MAC=… SRC=… DST=… LEN=… TOS=0x00 PREC=0x00 TTL=… ID=… DF PROTO=TCP SPT=… DPT=… WINDOW=… RES=0x00 SYN URGP=0 ",
/// trailing space included, as dmesg shows it (without the syslog level and timestamp).
/// </summary>
public static class LogFormatter
{
    /// <param name="macDecode">LOG --log-macdecode: an Ethernet header (<paramref name="inIsEthernet"/>) is written as
    /// "MACSRC=… MACDST=… MACPROTO=…" instead of "MAC=" and its bytes.</param>
    public static string Format(string prefix, Packet packet, string? inInterface, string? outInterface, uint mark,
        bool tcpSequence = false, bool tcpOptions = false, bool ipOptions = false, SocketOwner? owner = null,
        bool macDecode = false, bool inIsEthernet = true)
    {
        var sb = new StringBuilder(200);
        sb.Append(prefix).Append("IN=").Append(inInterface).Append(" OUT=").Append(outInterface).Append(' ');
        if (inInterface is not null && macDecode && inIsEthernet)
        {
            // dump_mac_header with NF_LOG_MACDECODE on an Ethernet device; nothing without a MAC header. A VLAN tag is
            // gone by then (the VLAN device took it off), so no VPROTO/VID.
            if (packet.Link is { } decoded)
            {
                sb.Append("MACSRC=");
                AppendMac(sb, decoded.Source);
                sb.Append(" MACDST=");
                AppendMac(sb, decoded.Destination);
                sb.Append(CultureInfo.InvariantCulture, $" MACPROTO={decoded.EtherType:x4} ");
            }
        }
        else if (inInterface is not null)
        {
            sb.Append("MAC=");
            if (packet.Link is { } link)
            {
                Span<byte> b = stackalloc byte[14];
                link.Destination.WriteBytes(b);
                link.Source.WriteBytes(b[6..]);
                b[12] = (byte)(link.EtherType >> 8);
                b[13] = (byte)link.EtherType;
                for (int i = 0; i < 14; i++)
                {
                    if (i > 0) sb.Append(':');
                    sb.Append(b[i].ToString("x2", CultureInfo.InvariantCulture));
                }
            }
            sb.Append(' ');
        }
        // nf_log_syslog stops after a TCP/UDP/ICMPv6 header it cannot read whole (and after "OPT (TRUNCATED)"): no UID=, MARK=.
        if (packet.Ip is { } ip && !AppendIp(sb, ip, packet.Transport, tcpSequence, tcpOptions, ipOptions, packet.TransportError is not null, packet.TransportBytes(), true))
            return sb.ToString();
        if (owner is not null) sb.Append(CultureInfo.InvariantCulture, $"UID={owner.Uid} GID={owner.Gid} ");
        if (mark != 0) sb.Append(CultureInfo.InvariantCulture, $"MARK=0x{mark:x} ");
        return sb.ToString();
    }

    /// <summary>The kernel's %pM: lower-case hex pairs joined by colons.</summary>
    private static void AppendMac(StringBuilder sb, MacAddress mac)
    {
        Span<byte> b = stackalloc byte[6];
        mac.WriteBytes(b);
        for (int i = 0; i < 6; i++)
        {
            if (i > 0) sb.Append(':');
            sb.Append(b[i].ToString("x2", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Appends the IP and transport fields; false where the kernel's dump returns early (the line ends there).</summary>
    /// <param name="bytes">The bytes after the IP header (and extension headers) when <paramref name="haveBytes"/>; a quoted packet
    /// in an ICMP error has only its decoded headers.</param>
    private static bool AppendIp(StringBuilder sb, IpHeader ip, TransportHeader? transport, bool tcpSequence, bool tcpOptions, bool ipOptions,
        bool shortHeader = false, ReadOnlySpan<byte> bytes = default, bool haveBytes = false)
    {
        var inv = CultureInfo.InvariantCulture;
        if (ip.Family == Family.IPv4)
        {
            sb.Append(inv, $"SRC={ip.Source} DST={ip.Destination} LEN={ip.TotalLength} TOS=0x{ip.Tos & 0x1E:X2} PREC=0x{ip.Tos & 0xE0:X2} TTL={ip.Ttl} ID={ip.Id} ");
            if (ip.ReservedFlag) sb.Append("CE ");
            if (ip.DontFragment) sb.Append("DF ");
            if (ip.MoreFragments) sb.Append("MF ");
            if (ip.FragmentOffset != 0) sb.Append(inv, $"FRAG:{ip.FragmentOffset / 8} ");
            if (ipOptions && ip.Options.Length > 0) sb.Append("OPT (").Append(Convert.ToHexString(ip.Options.Span)).Append(") ");
            if (ip.IsLaterFragment)
            {
                // A later fragment: the protocol's name alone (AH: nothing at all), then UID/MARK.
                if (ip.Protocol != IpProtocol.Ah) sb.Append(inv, $"PROTO={Name(ip.Protocol, false)} ");
                return true;
            }
        }
        else
        {
            sb.Append(inv, $"SRC={ip.Source} DST={ip.Destination} LEN={ip.TotalLength} TC={ip.Tos} HOPLIMIT={ip.Ttl} FLOWLBL={ip.FlowLabel} ");
            if (ip.IsFragment)
            {
                sb.Append(inv, $"FRAG:{ip.FragmentOffset} ");
                if (ip.MoreFragments) sb.Append("INCOMPLETE ");
                sb.Append(inv, $"ID:{ip.Id:x8} ");
                if (ip.IsLaterFragment)
                {
                    // The fragment header's next header: a protocol gets its name (then UID/MARK); another extension
                    // header or ESP ends the line.
                    if (ip.Protocol is IpProtocol.HopByHop or IpProtocol.Ipv6Route or IpProtocol.Ipv6Opts or IpProtocol.Ah or IpProtocol.Esp or IpProtocol.Ipv6NoNext)
                        return false;
                    sb.Append(inv, $"PROTO={Name(ip.Protocol, true)} ");
                    return true;
                }
            }
            if (ip.CutExtensionHeader is { } cut)
            {
                // nf_log_syslog's own walk reads 2 bytes of each header ("TRUNCATED" and the end of the line without
                // them) and a fragment header whole ("FRAG:TRUNCATED "); past a header that runs beyond the payload the
                // transport dump below finds nothing ("INCOMPLETE [bytes]", the count wrapping as the kernel's unsigned).
                int left = ip.TotalLength - ip.HeaderLength;
                if (ip.ExtensionWalkFailed && left < 2) { sb.Append("TRUNCATED"); return false; }
                if (ip.ExtensionWalkFailed || cut == IpProtocol.Ipv6Frag) { sb.Append("FRAG:TRUNCATED "); return false; }
            }
            if (ip.Protocol == IpProtocol.Esp)
            {
                // ESP ends the walk of the extension headers and the line: its SPI only with --log-ip-options.
                if (!ipOptions) return false;
                if (!haveBytes) { sb.Append("OPT ( ESP )"); return false; }
                sb.Append(bytes.Length >= 8
                    ? string.Create(inv, $"OPT ( ESP SPI=0x{System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes):x} )")
                    : string.Create(inv, $"OPT ( ESP INCOMPLETE [{bytes.Length} bytes] )"));
                return false;
            }
        }
        if (transport is null && shortHeader && ShortHeaderName(ip) is { } name)
        {
            // A transport header shorter than its fixed part: "INCOMPLETE [bytes after the IP header]"; the ICMP (v4)
            // dump goes on to UID/MARK, the others end the line.
            sb.Append(inv, $"PROTO={name} INCOMPLETE [{unchecked((uint)(ip.TotalLength - ip.HeaderLength))} bytes] ");
            return name == "ICMP";
        }
        switch (transport)
        {
            case TcpHeader t:
                sb.Append(inv, $"PROTO=TCP SPT={t.SourcePort} DPT={t.DestinationPort} ");
                if (tcpSequence) sb.Append(inv, $"SEQ={t.Sequence} ACK={t.Acknowledgment} ");
                // RES: the three reserved bits as the kernel shifts them ((flag word & 0x0E000000) >> 22); AE is its own flag.
                sb.Append(inv, $"WINDOW={t.Window} RES=0x{(t.ReservedBits & 0x0E) << 2:x2} ");
                if ((t.ReservedBits & 0x01) != 0) sb.Append("AE ");
                if ((t.Flags & TcpFlags.Cwr) != 0) sb.Append("CWR ");
                if ((t.Flags & TcpFlags.Ece) != 0) sb.Append("ECE ");
                if ((t.Flags & TcpFlags.Urg) != 0) sb.Append("URG ");
                if ((t.Flags & TcpFlags.Ack) != 0) sb.Append("ACK ");
                if ((t.Flags & TcpFlags.Psh) != 0) sb.Append("PSH ");
                if ((t.Flags & TcpFlags.Rst) != 0) sb.Append("RST ");
                if ((t.Flags & TcpFlags.Syn) != 0) sb.Append("SYN ");
                if ((t.Flags & TcpFlags.Fin) != 0) sb.Append("FIN ");
                sb.Append(inv, $"URGP={t.UrgentPointer} ");
                if (tcpOptions && t.HeaderLength > 20 && t.HeaderLength > ip.TotalLength - ip.HeaderLength)
                {
                    sb.Append("OPT (TRUNCATED)"); // the data offset runs past the segment: the options cannot be read
                    return false;
                }
                if (tcpOptions && t.Options.Length > 0) sb.Append("OPT (").Append(Convert.ToHexString(t.Options.Span)).Append(") ");
                break;
            case UdpHeader u:
                sb.Append(inv, $"PROTO={(ip.Protocol == IpProtocol.UdpLite ? "UDPLITE" : "UDP")} SPT={u.SourcePort} DPT={u.DestinationPort} LEN={u.Length} ");
                break;
            case IcmpHeader i:
                sb.Append(inv, $"PROTO={(i.IsV6 ? "ICMPv6" : "ICMP")} TYPE={i.Type} CODE={i.Code} ");
                if (IsEcho(i)) sb.Append(inv, $"ID={i.Identifier} SEQ={i.SequenceNumber} ");
                if (i.IsError && i.Quoted is { } q)
                {
                    sb.Append('[');
                    AppendIp(sb, q.Ip, q.Transport, tcpSequence, tcpOptions, ipOptions);
                    sb.Append("] ");
                }
                if ((!i.IsV6 && i.Type == 3 && i.Code == 4) || (i.IsV6 && i.Type == 2)) sb.Append(inv, $"MTU={i.Mtu} ");
                break;
            case OtherTransport when haveBytes && ip.Protocol == IpProtocol.UdpLite:
                // UDP-Lite has UDP's header: ports and the coverage field printed as LEN=.
                if (bytes.Length < 8)
                {
                    sb.Append(inv, $"PROTO=UDPLITE INCOMPLETE [{bytes.Length} bytes] ");
                    return false;
                }
                sb.Append(inv, $"PROTO=UDPLITE SPT={U16(bytes, 0)} DPT={U16(bytes, 2)} LEN={U16(bytes, 4)} ");
                break;
            case OtherTransport when haveBytes && ip.Family == Family.IPv4 && ip.Protocol is IpProtocol.Ah or IpProtocol.Esp:
                // IPv4 AH (12-byte header) and ESP (8 bytes): the SPI, or INCOMPLETE; the line goes on to UID/MARK.
                int need = ip.Protocol == IpProtocol.Ah ? 12 : 8;
                sb.Append(ip.Protocol == IpProtocol.Ah ? "PROTO=AH " : "PROTO=ESP ");
                if (bytes.Length < need) sb.Append(inv, $"INCOMPLETE [{bytes.Length} bytes] ");
                else sb.Append(inv, $"SPI=0x{System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes[(need - 8)..]):x} ");
                break;
            default:
                // Every other protocol (SCTP, GRE, …) by number only: nf_log_syslog has no case for it.
                sb.Append(inv, $"PROTO={Name(ip.Protocol, ip.Family == Family.IPv6)} ");
                break;
        }
        return true;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at) => System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(b[at..]);

    /// <summary>The protocols whose short header nf_log_syslog reports as INCOMPLETE, by their LOG name.</summary>
    private static string? ShortHeaderName(IpHeader ip) => ip.Protocol switch
    {
        IpProtocol.Tcp => "TCP",
        IpProtocol.Udp => "UDP",
        IpProtocol.UdpLite => "UDPLITE",
        IpProtocol.Icmp when ip.Family == Family.IPv4 => "ICMP",
        IpProtocol.Icmpv6 when ip.Family == Family.IPv6 => "ICMPv6",
        _ => null,
    };

    private static bool IsEcho(IcmpHeader i) => i.IsV6 ? i.Type is 128 or 129 : i.Type is 0 or 8;

    /// <summary>The name nf_log_syslog gives a protocol without its header: the few it knows per family, else the number.</summary>
    private static string Name(byte protocol, bool v6) => protocol switch
    {
        IpProtocol.Tcp => "TCP",
        IpProtocol.Udp => "UDP",
        IpProtocol.UdpLite => "UDPLITE",
        IpProtocol.Icmp when !v6 => "ICMP",
        IpProtocol.Esp when !v6 => "ESP",
        IpProtocol.Icmpv6 when v6 => "ICMPv6",
        _ => protocol.ToString(CultureInfo.InvariantCulture),
    };
}
