using System.Globalization;
using Harness.Net;

namespace Harness.Rules.Extensions;

/// <summary>
/// Protocol names as iptables reads and prints them: its own short list first (tcp, udp, icmp, ipv6-icmp/icmpv6, …),
/// then getprotobyname/getprotobynumber over Debian's netbase /etc/protocols (embedded, so output does not depend on
/// the machine).
/// </summary>
public static class ProtocolNames
{
    private static readonly (byte Number, string Name, string? Alias)[] Etc =
    [
        (0, "ip", "IP"), (0, "hopopt", "HOPOPT"), (1, "icmp", "ICMP"), (2, "igmp", "IGMP"), (3, "ggp", "GGP"),
        (4, "ipencap", "IP-ENCAP"), (5, "st", "ST"), (6, "tcp", "TCP"), (8, "egp", "EGP"), (9, "igp", "IGP"),
        (12, "pup", "PUP"), (17, "udp", "UDP"), (20, "hmp", "HMP"), (22, "xns-idp", "XNS-IDP"), (27, "rdp", "RDP"),
        (29, "iso-tp4", "ISO-TP4"), (33, "dccp", "DCCP"), (36, "xtp", "XTP"), (37, "ddp", "DDP"),
        (38, "idpr-cmtp", "IDPR-CMTP"), (41, "ipv6", "IPv6"), (43, "ipv6-route", "IPv6-Route"),
        (44, "ipv6-frag", "IPv6-Frag"), (45, "idrp", "IDRP"), (46, "rsvp", "RSVP"), (47, "gre", "GRE"),
        (50, "esp", "IPSEC-ESP"), (51, "ah", "IPSEC-AH"), (57, "skip", "SKIP"), (58, "ipv6-icmp", "IPv6-ICMP"),
        (59, "ipv6-nonxt", "IPv6-NoNxt"), (60, "ipv6-opts", "IPv6-Opts"), (73, "rspf", "RSPF"), (81, "vmtp", "VMTP"),
        (88, "eigrp", "EIGRP"), (89, "ospf", "OSPFIGP"), (93, "ax.25", "AX.25"), (94, "ipip", "IPIP"),
        (97, "etherip", "ETHERIP"), (98, "encap", "ENCAP"), (103, "pim", "PIM"), (108, "ipcomp", "IPCOMP"),
        (112, "vrrp", "VRRP"), (115, "l2tp", "L2TP"), (124, "isis", "ISIS"), (132, "sctp", "SCTP"), (133, "fc", "FC"),
        (135, "mobility-header", "Mobility-Header"), (136, "udplite", "UDPLite"), (137, "mpls-in-ip", "MPLS-in-IP"),
        (138, "manet", null), (139, "hip", "HIP"), (140, "shim6", "Shim6"), (141, "wesp", "WESP"), (142, "rohc", "ROHC"),
        (143, "ethernet", "Ethernet"),
    ];

    /// <summary>iptables' xtables_chain_protos: names it knows without /etc/protocols.</summary>
    private static readonly (string Name, byte Number)[] Builtin =
    [
        ("tcp", 6), ("sctp", 132), ("udp", 17), ("udplite", 136), ("icmp", 1), ("icmpv6", 58), ("ipv6-icmp", 58),
        ("esp", 50), ("ah", 51), ("ipv6-mh", 135), ("mh", 135), ("all", 0),
    ];

    /// <summary>A protocol name (case-insensitive) or number 0-255; "all" is 0.</summary>
    public static bool TryParse(string text, out byte number)
    {
        number = 0;
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
            return byte.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out number);
        var lower = text.ToLowerInvariant();
        foreach (var (name, n) in Builtin)
            if (name == lower) { number = n; return true; }
        foreach (var (n, name, alias) in Etc)
            if (name == text || alias == text) { number = n; return true; }
        return false;
    }

    /// <summary>The name iptables-save prints after "-p".</summary>
    public static string Print(byte number, Family family)
    {
        if (number == IpProtocol.Icmpv6) return "ipv6-icmp";
        foreach (var (n, name, _) in Etc)
            if (n == number && n != 0) return name;
        return number.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The name getservbyname wants for a protocol ("tcp", "udp", …), or null.</summary>
    public static string? ServiceProtocol(byte number) => number switch
    {
        6 => "tcp", 17 => "udp", 132 => "sctp", 33 => "dccp", 136 => "udp",
        _ => null,
    };
}
