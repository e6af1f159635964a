using System.Globalization;
using System.Text;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The table as "conntrack -L" prints it (conntrack-tools' default text output), one line per live entry, oldest
/// first (the kernel prints hash order, which is random per boot):
/// <c>tcp      6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=… dst=… sport=… dport=… [ASSURED] mark=0 use=1</c>
/// </summary>
public static class ConntrackListFormatter
{
    /// <summary>Every entry alive at <paramref name="now"/>, one line each ("conntrack -L").</summary>
    public static IEnumerable<string> Lines(ConntrackTable table, Timestamp now)
    {
        // The kernel's use count: one, plus one per expected connection that names the entry as its master (the child
        // holds a reference to it); a pending expectation holds none (checked on 6.18: use=1 while it is listed).
        var live = table.LiveEntries(now).ToList();
        var children = new Dictionary<ConnEntry, int>(ReferenceEqualityComparer.Instance);
        foreach (var e in live)
            if (e.Master is { } m) children[m] = children.GetValueOrDefault(m) + 1;
        return live.Select(e => Format(e, now, 1 + children.GetValueOrDefault(e)));
    }

    /// <summary>The whole listing as text, lines ending in '\n'.</summary>
    public static string Format(ConntrackTable table, Timestamp now)
    {
        var sb = new StringBuilder();
        foreach (var line in Lines(table, now)) sb.Append(line).Append('\n');
        return sb.ToString();
    }

    /// <summary>One entry's line; <paramref name="use"/> is the reference count the kernel prints (1, plus one per live expected child).</summary>
    public static string Format(ConnEntry e, Timestamp now, int use = 1)
    {
        var o = e.Original;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{ProtocolName(o.Protocol, o.Family),-8} {o.Protocol} {e.SecondsLeft(now)} ");
        if (e.ProtocolState is { } state) sb.Append(state).Append(' ');
        // ctnetlink sends a zone with a direction inside that direction's tuple, conntrack prints it after the tuple.
        bool directional = e.ZoneSpec.IsDirectional;
        sb.Append(o).Append(' ');
        if (directional && e.ZoneDirection == CtZoneDirection.Original) sb.Append(CultureInfo.InvariantCulture, $"zone-orig={e.Zone} ");
        if (!e.SeenReply) sb.Append("[UNREPLIED] ");
        sb.Append(e.Reply).Append(' ');
        if (directional && e.ZoneDirection == CtZoneDirection.Reply) sb.Append(CultureInfo.InvariantCulture, $"zone-reply={e.Zone} ");
        if (e.IsAssured) sb.Append("[ASSURED] ");
        sb.Append(CultureInfo.InvariantCulture, $"mark={e.Mark} ");
        if (e.Zone != 0 && !directional) sb.Append(CultureInfo.InvariantCulture, $"zone={e.Zone} ");
        if (e.Helper is { } h) sb.Append("helper=").Append(h).Append(' ');
        sb.Append(CultureInfo.InvariantCulture, $"use={use}");
        return sb.ToString();
    }

    /// <summary>The pending expectations as "conntrack -L expect" prints them, oldest first.</summary>
    public static IEnumerable<string> ExpectationLines(ConntrackTable table, Timestamp now) =>
        table.Expectations.Where(x => x.Expires > now).Select(x => FormatExpectation(x, now));

    /// <summary>One expectation: timeout, the expected tuple with its mask, the master's tuple, flags, helper.</summary>
    public static string FormatExpectation(Expectation x, Timestamp now)
    {
        long left = Math.Max(0, (x.Expires.Nanoseconds - now.Nanoseconds) / 1_000_000_000L);
        var fullMask = x.Family == Family.IPv4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        var sourceMask = x.SourcePrefixLength is { } len ? new Address(new Cidr(x.Source, len).Mask, x.Family).ToString() : fullMask;
        var m = x.Master.Original;
        return string.Create(CultureInfo.InvariantCulture,
            $"{left} proto={x.Protocol} src={x.Source} dst={x.Destination} sport={x.SourcePort ?? 0} dport={x.DestinationPort} mask-src={sourceMask} mask-dst={fullMask} sport={(x.SourcePort is null ? 0 : 65535)} dport=65535 master-src={m.Source} master-dst={m.Destination} sport={m.SourcePort} dport={m.DestinationPort} {(x.Permanent ? "PERMANENT " : "")}class=0 helper={x.Helper}");
    }

    private static string ProtocolName(byte protocol, Family family) => protocol switch
    {
        IpProtocol.Tcp => "tcp",
        IpProtocol.Udp => "udp",
        IpProtocol.Icmp => "icmp",
        IpProtocol.Icmpv6 => "icmpv6",
        IpProtocol.Sctp => "sctp",
        IpProtocol.Gre => "gre",
        IpProtocol.UdpLite => "udplite",
        _ => "unknown",
    };
}
