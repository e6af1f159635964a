using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Rules.Parsing;

/// <summary>
/// Prints a rule specification the way iptables-save (1.8.9) does after "-A CHAIN ": -s -d -i -o -p -f (each with
/// "!" before it when negated), then each match "-m NAME …" in order, then "-j TARGET …" or "-g CHAIN".
/// </summary>
public static class RuleSpecPrinter
{
    public static string Print(IpHeaderMatch ip, IEnumerable<MatchExtension> matches, Target? target, Family family)
    {
        var writer = new SaveWriter();
        WriteHeader(writer, ip, family);
        foreach (var match in matches) match.Save(writer);
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
}
