using System.Globalization;

namespace Harness.Net;

/// <summary>A 48-bit Ethernet address.</summary>
public readonly record struct MacAddress(ulong Value)
{
    public static MacAddress FromBytes(ReadOnlySpan<byte> b)
    {
        ulong v = 0;
        for (int i = 0; i < 6; i++) v = (v << 8) | b[i];
        return new MacAddress(v);
    }

    public void WriteBytes(Span<byte> destination)
    {
        for (int i = 0; i < 6; i++) destination[i] = (byte)(Value >> (8 * (5 - i)));
    }

    public bool IsBroadcast => Value == 0xFFFF_FFFF_FFFF;
    public bool IsMulticast => ((Value >> 40) & 1) == 1;

    public static bool TryParse(string text, out MacAddress mac)
    {
        mac = default;
        var parts = text.Split(':');
        if (parts.Length != 6) return false;
        ulong v = 0;
        foreach (var p in parts)
        {
            if (p.Length is < 1 or > 2 || !byte.TryParse(p, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b)) return false;
            v = (v << 8) | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var m) ? m : throw new FormatException($"invalid MAC address '{text}'");

    /// <summary>Upper-case colon form, as iptables-save prints `--mac-source`.</summary>
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        WriteBytes(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:X2}:{b[1]:X2}:{b[2]:X2}:{b[3]:X2}:{b[4]:X2}:{b[5]:X2}");
    }
}
