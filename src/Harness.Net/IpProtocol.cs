namespace Harness.Net;

/// <summary>IP protocol numbers and the names iptables uses for them (from /etc/protocols).</summary>
public static class IpProtocol
{
    public const byte HopByHop = 0;
    public const byte Icmp = 1;
    public const byte Igmp = 2;
    public const byte IpIp = 4;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Ipv6 = 41;
    public const byte Ipv6Route = 43;
    public const byte Ipv6Frag = 44;
    public const byte Gre = 47;
    public const byte Esp = 50;
    public const byte Ah = 51;
    public const byte Icmpv6 = 58;
    public const byte Ipv6NoNext = 59;
    public const byte Ipv6Opts = 60;
    public const byte Sctp = 132;
    public const byte UdpLite = 136;
    public const byte Mh = 135;

    private static readonly (string Name, byte Number)[] Names =
    [
        ("tcp", Tcp), ("udp", Udp), ("udplite", UdpLite), ("icmp", Icmp), ("icmpv6", Icmpv6), ("ipv6-icmp", Icmpv6),
        ("esp", Esp), ("ah", Ah), ("sctp", Sctp), ("mh", Mh), ("ipv6-mh", Mh), ("gre", Gre), ("igmp", Igmp),
        ("ipip", IpIp), ("ipencap", IpIp), ("ipv6", Ipv6), ("ipv6-route", Ipv6Route), ("ipv6-frag", Ipv6Frag),
        ("ipv6-opts", Ipv6Opts), ("ipv6-nonxt", Ipv6NoNext), ("hopopt", HopByHop), ("vrrp", 112), ("ospf", 89),
        ("pim", 103), ("l2tp", 115), ("dccp", 33), ("egp", 8), ("pup", 12), ("idp", 22), ("rdp", 27), ("xtp", 36),
        ("ddp", 37), ("idpr-cmtp", 38), ("rsvp", 46), ("skip", 57), ("eigrp", 88), ("ax.25", 93), ("ipip", 94),
        ("etherip", 97), ("encap", 98), ("ipcomp", 108), ("isis", 124), ("manet", 138), ("hip", 139), ("shim6", 140),
        ("wesp", 141), ("rohc", 142), ("ethernet", 143), ("ggp", 3), ("st", 5), ("ipv6-icmp", Icmpv6),
    ];

    /// <summary>Parses a protocol as iptables does: a name (case-insensitive) or a number 0-255; "all" is 0.</summary>
    public static bool TryParse(string text, out byte number)
    {
        number = 0;
        if (text.Equals("all", StringComparison.OrdinalIgnoreCase)) return true;
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
            return byte.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out number);
        foreach (var (name, n) in Names)
            if (name.Equals(text, StringComparison.OrdinalIgnoreCase)) { number = n; return true; }
        return false;
    }

    /// <summary>The name iptables-save prints for a protocol number, or the number itself.</summary>
    public static string NameOf(byte number, Family family) => number switch
    {
        Tcp => "tcp",
        Udp => "udp",
        UdpLite => "udplite",
        Icmp => "icmp",
        Icmpv6 => "ipv6-icmp",
        Esp => "esp",
        Ah => "ah",
        Sctp => "sctp",
        Mh => "mh",
        Gre => "gre",
        Igmp => "igmp",
        _ => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
