using System.Globalization;

namespace Harness.Net;

/// <summary>An address with a prefix length; the host bits are kept as written (iptables masks them when it prints).</summary>
public readonly record struct Cidr(Address Address, int PrefixLength)
{
    public Family Family => Address.Family;

    public UInt128 Mask => PrefixLength == 0
        ? UInt128.Zero
        : (UInt128.MaxValue << (128 - PrefixLength)) >> (128 - Address.BitLength);

    public Address Network => new(Address.Value & Mask, Address.Family);

    public bool Contains(Address a) => a.Family == Address.Family && (a.Value & Mask) == (Address.Value & Mask);

    public static Cidr Host(Address a) => new(a, a.BitLength);

    /// <summary>The canonical form: network address and prefix length, as iptables-save prints it.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Network}/{PrefixLength}");

    /// <summary>Parses "a.b.c.d", "a.b.c.d/len", "a.b.c.d/m.m.m.m" and the IPv6 forms.</summary>
    public static bool TryParse(string text, out Cidr cidr)
    {
        cidr = default;
        var slash = text.IndexOf('/');
        var addrText = slash < 0 ? text : text[..slash];
        if (!Address.TryParse(addrText, out var addr)) return false;
        if (slash < 0) { cidr = Host(addr); return true; }
        var maskText = text[(slash + 1)..];
        if (maskText.Length > 0 && maskText.All(char.IsAsciiDigit) && maskText.Length <= 3)
        {
            var len = int.Parse(maskText, CultureInfo.InvariantCulture);
            if (len > addr.BitLength) return false;
            cidr = new Cidr(addr, len);
            return true;
        }
        if (!Address.TryParse(maskText, out var mask) || mask.Family != addr.Family) return false;
        var prefix = PrefixOf(mask);
        if (prefix < 0) return false;
        cidr = new Cidr(addr, prefix);
        return true;
    }

    /// <summary>The prefix length of a contiguous mask, or -1 when the mask has holes.</summary>
    public static int PrefixOf(Address mask)
    {
        int bits = mask.BitLength;
        UInt128 v = mask.Value;
        int ones = 0;
        for (int i = bits - 1; i >= 0 && ((v >> i) & 1) == 1; i--) ones++;
        var expected = ones == 0 ? UInt128.Zero : (UInt128.MaxValue << (128 - ones)) >> (128 - bits);
        return v == expected ? ones : -1;
    }
}
