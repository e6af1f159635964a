using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Globalization;
using Harness.Engine;
using Harness.Packets;

namespace Harness.Golden.Csv;

/// <summary>Turns outcomes into golden rows (the documented column meanings live here and in the README).</summary>
public static class OutcomeProjection
{
    public static ImmutableArray<GoldenRow> Project(IEnumerable<Outcome> outcomes) => [.. ProjectLazily(outcomes)];

    /// <summary>The rows of <paramref name="outcomes"/>, each made as its outcome arrives (for a replay streamed to a check).</summary>
    public static IEnumerable<GoldenRow> ProjectLazily(IEnumerable<Outcome> outcomes)
    {
        var generatedCount = new Dictionary<long, int>();
        var texts = new RowTexts();
        foreach (var o in outcomes)
        {
            string key;
            if (o.Generated)
            {
                generatedCount[o.PacketNumber] = generatedCount.GetValueOrDefault(o.PacketNumber) + 1;
                int n = generatedCount[o.PacketNumber];
                key = string.Create(CultureInfo.InvariantCulture, $"{o.PacketNumber}r{(n == 1 ? "" : n.ToString(CultureInfo.InvariantCulture))}");
            }
            else
            {
                key = o.PacketNumber.ToString(CultureInfo.InvariantCulture);
            }
            yield return ToRow(o, key, texts);
        }
    }

    /// <summary>One outcome as a row; <paramref name="packetKey"/> fills the "packet" column.</summary>
    public static GoldenRow ToRow(Outcome o, string packetKey) => ToRow(o, packetKey, null);

    /// <summary>
    /// Shared cell texts for the rows of one projection: a path's text once per distinct path (the engine shares one
    /// array per path), and one instance per repeated value.
    /// </summary>
    private sealed class RowTexts
    {
        private readonly Dictionary<PathStep[], string> _paths = new(ReferenceEqualityComparer.Instance);
        private readonly StringPool _pool = new();

        public string Path(ImmutableArray<PathStep> path)
        {
            var steps = ImmutableCollectionsMarshal.AsArray(path);
            if (steps is null) return "";
            if (_paths.TryGetValue(steps, out var text)) return text;
            text = _pool.Intern(PathText(path));
            if (_paths.Count < 1 << 16) _paths[steps] = text;
            return text;
        }

        public string Intern(string value) => _pool.Intern(value);
    }

    private static string PathText(ImmutableArray<PathStep> path) => string.Join(";", path.Select(s => s.ToString()));

    private static GoldenRow ToRow(Outcome o, string packetKey, RowTexts? texts)
    {
        var p = o.Packet;
        var (sport, dport) = Ports(p.Transport);
        bool isTcp = p.Transport is TcpHeader;
        return GoldenRow.Of(
            packetKey,
            o.Time.ToString(),
            o.InInterface ?? "",
            o.OutInterface ?? "",
            Protocol(p),
            Intern(texts, p.Ip?.Source.ToString() ?? ""),
            Intern(texts, sport),
            Intern(texts, p.Ip?.Destination.ToString() ?? ""),
            Intern(texts, dport),
            Verdict(o.Verdict),
            o.DecidingRule ?? "",
            o.Conntrack?.StateSeen ?? "",
            isTcp ? o.Conntrack?.TcpStateAfter ?? "" : "",
            Intern(texts, o.Conntrack?.Nat ?? ""),
            texts is null ? PathText(o.Path) : texts.Path(o.Path),
            Intern(texts, string.Join(" | ", o.Log)),
            Intern(texts, o.Reason ?? ""));
    }

    private static string Intern(RowTexts? texts, string value) => texts is null ? value : texts.Intern(value);

    public static string Verdict(FinalVerdict v) => v switch
    {
        FinalVerdict.Accept => "ACCEPT",
        FinalVerdict.Drop => "DROP",
        FinalVerdict.Reject => "REJECT",
        FinalVerdict.Stolen => "STOLEN",
        _ => throw new ArgumentOutOfRangeException(nameof(v), v, "unknown verdict"),
    };

    /// <summary>tcp, udp, icmp, icmpv6, sctp, or the protocol number; empty when the frame had no IP layer.</summary>
    public static string Protocol(Packet p) => p.Ip is null
        ? ""
        : p.Ip.Protocol switch
        {
            6 => "tcp",
            17 => "udp",
            1 => "icmp",
            58 => "icmpv6",
            132 => "sctp",
            var n => n.ToString(CultureInfo.InvariantCulture),
        };

    /// <summary>Ports for TCP/UDP/SCTP; for ICMP the echo identifier (sport) and "type/code" (dport).</summary>
    public static (string Sport, string Dport) Ports(TransportHeader? t) => t switch
    {
        TcpHeader tcp => (Num(tcp.SourcePort), Num(tcp.DestinationPort)),
        UdpHeader udp => (Num(udp.SourcePort), Num(udp.DestinationPort)),
        SctpHeader sctp => (Num(sctp.SourcePort), Num(sctp.DestinationPort)),
        IcmpHeader icmp => (IsEcho(icmp) ? Num(icmp.Identifier) : "", string.Create(CultureInfo.InvariantCulture, $"{icmp.Type}/{icmp.Code}")),
        _ => ("", ""),
    };

    private static bool IsEcho(IcmpHeader i) => i.IsV6 ? i.Type is 128 or 129 : i.Type is 0 or 8;

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);
}
