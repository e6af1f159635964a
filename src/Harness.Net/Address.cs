using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Harness.Net;

/// <summary>
/// An IPv4 or IPv6 address as a 128-bit number (IPv4 in the low 32 bits), cheap to compare and mask.
/// Held as two 64-bit halves: 24 bytes, where a UInt128 field (16-byte aligned) would make it 32, and every packet
/// header and conntrack tuple holds two.
/// </summary>
public readonly record struct Address : IComparable<Address>
{
    private readonly ulong _high;
    private readonly ulong _low;

    public Address(UInt128 value, Family family)
    {
        _high = (ulong)(value >> 64);
        _low = (ulong)value;
        Family = family;
    }

    /// <summary>The address as a number (IPv4 in the low 32 bits).</summary>
    public UInt128 Value
    {
        get => new(_high, _low);
        init
        {
            _high = (ulong)(value >> 64);
            _low = (ulong)value;
        }
    }

    public Family Family { get; init; }

    public void Deconstruct(out UInt128 value, out Family family)
    {
        value = Value;
        family = Family;
    }

    public int BitLength => Family == Family.IPv4 ? 32 : 128;

    public static Address V4(uint value) => new(value, Family.IPv4);

    public uint ToUInt32() => Family == Family.IPv4
        ? (uint)Value
        : throw new InvalidOperationException("not an IPv4 address");

    public static Address FromIPAddress(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return FromBytes(bytes);
    }

    public static Address FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != 4 && bytes.Length != 16)
            throw new ArgumentException("an address has 4 or 16 bytes", nameof(bytes));
        UInt128 v = 0;
        foreach (var b in bytes) v = (v << 8) | b;
        return new Address(v, bytes.Length == 4 ? Family.IPv4 : Family.IPv6);
    }

    public void WriteBytes(Span<byte> destination)
    {
        int n = BitLength / 8;
        var v = Value;
        for (int i = n - 1; i >= 0; i--) { destination[i] = (byte)v; v >>= 8; }
    }

    public byte[] ToBytes()
    {
        var b = new byte[BitLength / 8];
        WriteBytes(b);
        return b;
    }

    public IPAddress ToIPAddress() => new(ToBytes());

    public static bool TryParse(string text, out Address address)
    {
        address = default;
        if (string.IsNullOrEmpty(text)) return false;
        if (text.Contains(':'))
        {
            if (!IPAddress.TryParse(text, out var ip6) || ip6.AddressFamily != AddressFamily.InterNetworkV6) return false;
            address = FromIPAddress(ip6);
            return true;
        }
        // Dotted quad only: IPAddress.TryParse accepts "1" or "1.2" which iptables reads differently.
        var parts = text.Split('.');
        if (parts.Length != 4) return false;
        uint v = 0;
        foreach (var p in parts)
        {
            if (p.Length == 0 || p.Length > 3 || !p.All(char.IsAsciiDigit)) return false;
            var octet = int.Parse(p, CultureInfo.InvariantCulture);
            if (octet > 255) return false;
            v = (v << 8) | (uint)octet;
        }
        address = V4(v);
        return true;
    }

    public static Address Parse(string text) =>
        TryParse(text, out var a) ? a : throw new FormatException($"invalid address '{text}'");

    public override string ToString()
    {
        if (Family == Family.IPv4)
        {
            uint v = (uint)Value;
            return string.Create(CultureInfo.InvariantCulture, $"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}");
        }
        return ToIPAddress().ToString();
    }

    public int CompareTo(Address other)
    {
        int f = Family.CompareTo(other.Family);
        return f != 0 ? f : Value.CompareTo(other.Value);
    }

    public static Address operator +(Address a, long delta) => new(a.Value + (UInt128)delta, a.Family);
}
