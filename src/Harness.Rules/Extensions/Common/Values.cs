using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>Value parsers shared by the extensions, following libxtables (xtables_strtoul, xtables_parse_port, …).</summary>
public static class Values
{
    /// <summary>strtoul with base 0 (decimal, 0x hex, leading-0 octal), no sign, at most <paramref name="max"/>.</summary>
    public static bool TryUInt(string text, ulong max, out ulong value)
    {
        value = 0;
        if (text.Length == 0) return false;
        int radix = 10;
        var digits = text;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) { radix = 16; digits = text[2..]; }
        else if (text.Length > 1 && text[0] == '0') { radix = 8; digits = text[1..]; }
        if (digits.Length == 0) return false;
        UInt128 v = 0;
        foreach (var c in digits)
        {
            int d = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiHexDigit(c) ? char.ToLowerInvariant(c) - 'a' + 10 : 99;
            if (d >= radix) return false;
            v = v * (uint)radix + (uint)d;
            if (v > max) return false;
        }
        value = (ulong)v;
        return true;
    }

    /// <summary>Reads one unsigned value of the option, in [min, max].</summary>
    public static ulong UInt(OptionArguments args, string ext, ulong max, ulong min = 0, string what = "value")
    {
        var text = args.Next(what);
        if (!TryUInt(text, max, out var v) || v < min)
            throw args.Error($"{ext}: bad value for option \"{args.Option}\", or out of range ({min}-{max}).");
        return v;
    }

    public static uint UInt32(OptionArguments args, string ext, uint max = uint.MaxValue, uint min = 0) =>
        (uint)UInt(args, ext, max, min);

    /// <summary>"value[/mask]" as for --mark; the mask defaults to all ones.</summary>
    public static (uint Value, uint Mask) MarkMask(OptionArguments args, string ext)
    {
        var text = args.Next("value[/mask]");
        var slash = text.IndexOf('/');
        var valueText = slash < 0 ? text : text[..slash];
        if (!TryUInt(valueText, uint.MaxValue, out var value))
            throw args.Error($"{ext}: bad value for option \"{args.Option}\", or out of range (0-4294967295).");
        ulong mask = uint.MaxValue;
        if (slash >= 0 && !TryUInt(text[(slash + 1)..], uint.MaxValue, out mask))
            throw args.Error($"{ext}: bad mask for option \"{args.Option}\": \"{text[(slash + 1)..]}\"");
        return ((uint)value, (uint)mask);
    }

    /// <summary>A port number or service name (looked up for <paramref name="protocol"/>).</summary>
    public static bool TryPort(string text, string? protocol, out ushort port)
    {
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
            return ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port);
        return ServiceNames.TryLookup(text, protocol, out port);
    }

    public static ushort Port(OptionArguments args, string text, string? protocol)
    {
        if (!TryPort(text, protocol, out var port))
            throw args.Error($"invalid port/service `{text}' specified");
        return port;
    }

    /// <summary>"a", "a:b", "a:", ":b", ":" (missing ends are 0 and 65535); first must not exceed last.</summary>
    public static Net.PortRange PortRange(OptionArguments args, string text, string? protocol, char separator = ':')
    {
        var sep = text.IndexOf(separator);
        if (sep < 0)
        {
            var p = Port(args, text, protocol);
            return new Net.PortRange(p, p);
        }
        var firstText = text[..sep];
        var lastText = text[(sep + 1)..];
        ushort first = firstText.Length == 0 ? (ushort)0 : Port(args, firstText, protocol);
        ushort last = lastText.Length == 0 ? (ushort)65535 : Port(args, lastText, protocol);
        if (first > last) throw args.Error($"invalid portrange ({text}) specified");
        return new Net.PortRange(first, last);
    }

    /// <summary>An address of the rule's family, or a name iptables would resolve (only "localhost" is known here).</summary>
    public static bool TryAddress(string text, Family family, out Net.Address address)
    {
        if (Net.Address.TryParse(text, out address)) return address.Family == family;
        if (text == "localhost" || text == "ip6-localhost")
        {
            address = family == Family.IPv4 ? Net.Address.V4(0x7F000001) : new Net.Address(1, Family.IPv6);
            return true;
        }
        return false;
    }

    public static Net.Address Address(OptionArguments args, string text, Family family)
    {
        if (!TryAddress(text, family, out var a))
            throw args.Error($"host/network `{text}' not found");
        return a;
    }

    /// <summary>"addr[/len|/mask]" of the given family; a bare address is a host.</summary>
    public static bool TryCidr(string text, Family family, out Net.Cidr cidr)
    {
        cidr = default;
        var slash = text.IndexOf('/');
        var host = slash < 0 ? text : text[..slash];
        if (!TryAddress(host, family, out var address)) return false;
        if (slash < 0) { cidr = Net.Cidr.Host(address); return true; }
        return Net.Cidr.TryParse(address + text[slash..], out cidr) && cidr.Family == family;
    }

    public static Net.Cidr Cidr(OptionArguments args, string text, Family family)
    {
        if (TryCidr(text, family, out var c)) return c;
        var slash = text.IndexOf('/');
        if (slash >= 0 && TryAddress(text[..slash], family, out _))
            throw args.Error($"invalid mask `{text[(slash + 1)..]}' specified");
        throw args.Error($"host/network `{text}' not found");
    }

    /// <summary>Lower-case hex with "0x", as iptables prints marks and masks.</summary>
    public static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    public static string Dec(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses a comma list of names into a bit set; unknown names are an error naming them.</summary>
    public static uint FlagList(OptionArguments args, string text, IReadOnlyList<(string Name, uint Bit)> names, string ext)
    {
        uint bits = 0;
        foreach (var part in text.Split(','))
        {
            var match = names.FirstOrDefault(n => n.Name.Equals(part, StringComparison.OrdinalIgnoreCase));
            if (match.Name is null) throw args.Error($"{ext}: bad value \"{part}\" for option \"{args.Option}\"");
            bits |= match.Bit;
        }
        return bits;
    }

    /// <summary>The names of the set bits, comma-separated, in table order.</summary>
    public static string FlagNames(uint bits, IReadOnlyList<(string Name, uint Bit)> names) =>
        string.Join(",", names.Where(n => (bits & n.Bit) == n.Bit && n.Bit != 0 && (bits & n.Bit) != 0)
            .GroupBy(n => n.Bit).Select(g => g.First().Name));

    /// <summary>The string form iptables' xtables_save_string writes: bare when only [A-Za-z0-9_-], else double-quoted with \" \\ \' escaped.</summary>
    public static string SaveString(string value)
    {
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')) return value;
        var sb = new System.Text.StringBuilder("\"");
        foreach (var c in value)
        {
            if (c is '"' or '\\' or '\'') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}
