using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Rules.Parsing;

/// <summary>
/// Prints a rule specification the way iptables-save (1.8.9) does after "-A CHAIN ": -s -d -i -o -p -f (each with
/// "!" before it when negated), then each match "-m NAME …" in order, then "-j TARGET …" or "-g CHAIN".
/// </summary>
public static class RuleSpecPrinter
{
    /// <param name="foldPortMatches">
    /// Print a repeated non-empty -m tcp / -m udp as one match, as iptables-nft's save does (legacy's prints each);
    /// false gives the rule as written (to compare specifications, e.g. for -D).
    /// </param>
    public static string Print(IpHeaderMatch ip, IEnumerable<MatchExtension> matches, Target? target, Family family, bool foldPortMatches = true)
    {
        var writer = new SaveWriter();
        WriteHeader(writer, ip, family);
        foreach (var match in foldPortMatches ? MergeRepeatedPortMatches(matches) : matches) match.Save(writer);
        target?.Save(writer);
        return writer.ToString();
    }

    public static void WriteHeader(SaveWriter writer, IpHeaderMatch ip, Family family)
    {
        if (ip.Source is { } s) writer.Option("-s", s.Value.ToString(), s.Negated);
        if (ip.Destination is { } d) writer.Option("-d", d.Value.ToString(), d.Negated);
        if (ip.InInterface is { } i) writer.Option("-i", i.Value.Text, i.Negated);
        if (ip.OutInterface is { } o) writer.Option("-o", o.Value.Text, o.Negated);
        if (ip.Protocol is { } p) writer.Option("-p", ProtocolNames.Print(p.Value, family), p.Negated);
        if (ip.Fragment is { } f) writer.Option("-f", null, f.Negated);
    }

    /// <summary>
    /// iptables-nft turns tcp/udp matches into payload expressions and reads them back as one match: a second
    /// non-empty "-m tcp" is printed folded into the first (its options win); empty ones, and --tcp-option (which stays
    /// an xt match), stay as written (checked on 1.8.9). Only the printing folds: the kernel evaluates every payload
    /// expression, so the rule keeps each match and the engine tests them all (found by the differential fuzz:
    /// "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN … -m tcp --tcp-flags SYN,RST SYN" needs both).
    /// </summary>
    private static List<MatchExtension> MergeRepeatedPortMatches(IEnumerable<MatchExtension> matches)
    {
        var result = new List<MatchExtension>();
        foreach (var match in matches)
        {
            int index = match switch
            {
                TcpMatch t when t != new TcpMatch(null, null, null, null) && t.Option is null =>
                    result.FindIndex(m => m is TcpMatch o && o != new TcpMatch(null, null, null, null) && o.Option is null),
                UdpMatch u when u != new UdpMatch(null, null) =>
                    result.FindIndex(m => m is UdpMatch o && o != new UdpMatch(null, null)),
                _ => -1,
            };
            if (index < 0) { result.Add(match); continue; }
            result[index] = (result[index], match) switch
            {
                (TcpMatch a, TcpMatch b) => new TcpMatch(b.SourcePorts ?? a.SourcePorts, b.DestinationPorts ?? a.DestinationPorts,
                    b.Flags ?? a.Flags, b.Option ?? a.Option),
                (UdpMatch a, UdpMatch b) => new UdpMatch(b.SourcePorts ?? a.SourcePorts, b.DestinationPorts ?? a.DestinationPorts),
                _ => result[index],
            };
        }
        return result;
    }
}
