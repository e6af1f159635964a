using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>Reads and prints NAT ranges the way libxt_NAT/libxt_MASQUERADE/libxt_REDIRECT do.</summary>
public static class NatRanges
{
    /// <summary>"[addr[-addr]][:port[-port[/base]]]" (IPv6 with ports: "[addr[-addr]]:port…").</summary>
    public static NatRange ParseToRange(OptionArguments a, string text, Family family, string ext)
    {
        string addressPart = text;
        string? portPart = null;
        if (family == Family.IPv6 && text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0) throw a.Error($"{ext}: Invalid address format \"{text}\"");
            addressPart = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':') throw a.Error($"{ext}: Invalid address format \"{text}\"");
                portPart = rest[1..];
            }
        }
        else if (family == Family.IPv4 || text.StartsWith(':'))
        {
            var colon = text.IndexOf(':');
            if (colon >= 0) { addressPart = text[..colon]; portPart = text[(colon + 1)..]; }
        }
        Address? min = null, max = null;
        if (addressPart.Length > 0)
        {
            var dash = addressPart.IndexOf('-');
            var lo = dash < 0 ? addressPart : addressPart[..dash];
            var hi = dash < 0 ? addressPart : addressPart[(dash + 1)..];
            if (!Values.TryAddress(lo, family, out var l)) throw a.Error($"Bad IP address \"{lo}\"");
            if (!Values.TryAddress(hi, family, out var h)) throw a.Error($"Bad IP address \"{hi}\"");
            if (h.CompareTo(l) < 0) throw a.Error($"{ext}: Bad address range \"{addressPart}\"");
            min = l; max = h;
        }
        var range = new NatRange(min, max, null, null);
        if (portPart is null) return range;
        ushort? basePort = null;
        var slash = portPart.IndexOf('/');
        if (slash >= 0)
        {
            var baseText = portPart[(slash + 1)..];
            if (!Values.TryPort(baseText, null, out var b) || b == 0) throw a.Error($"Port `{baseText}' not valid");
            basePort = b;
            portPart = portPart[..slash];
        }
        var (first, last) = ParsePorts(a, portPart);
        return range with { MinPort = first, MaxPort = last, BasePort = basePort };
    }

    /// <summary>A single port (number or service name) or a numeric range "a-b".</summary>
    public static (ushort First, ushort Last) ParsePorts(OptionArguments a, string text)
    {
        if (Values.TryPort(text, null, out var single)) return (single, single);
        var dash = text.IndexOf('-');
        if (dash < 0) throw a.Error($"Port `{text}' not valid");
        var lo = text[..dash];
        var hi = text[(dash + 1)..];
        if (!ushort.TryParse(lo, NumberStyles.None, CultureInfo.InvariantCulture, out var l)) throw a.Error($"Port `{lo}' not valid");
        if (!ushort.TryParse(hi, NumberStyles.None, CultureInfo.InvariantCulture, out var h)) throw a.Error($"Port `{hi}' not valid");
        if (h < l) throw a.Error($"Port range `{text}' invalid");
        return (l, h);
    }

    public static string PrintPorts(NatRange r) =>
        r.MinPort == r.MaxPort ? Values.Dec(r.MinPort!.Value) : Values.Dec(r.MinPort!.Value) + "-" + Values.Dec(r.MaxPort!.Value);

    public static string PrintToRange(NatRange r, Family family)
    {
        var text = "";
        if (r.MinAddress is { } min)
        {
            text = min.ToString();
            if (r.MaxAddress is { } max && max != min) text += "-" + max;
            if (family == Family.IPv6 && r.HasPorts) text = "[" + text + "]";
        }
        if (r.HasPorts)
        {
            text += ":" + PrintPorts(r);
            if (r.BasePort is { } b) text += "/" + Values.Dec(b);
        }
        return text;
    }

    public static void RequirePortProtocol(RuleContext context, NatRange? range)
    {
        if (range is { HasPorts: true } && !ProtocolCheck.Is(context, ProtocolCheck.PortProtocols))
            throw new RuleSyntaxException("Need TCP, UDP, SCTP or DCCP with port specification");
    }
}
