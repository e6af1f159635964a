using System.Globalization;

namespace Harness.Net;

/// <summary>An inclusive range of 16-bit ports (or any 16-bit value); a single port is First == Last.</summary>
public readonly record struct PortRange(ushort First, ushort Last)
{
    public static readonly PortRange All = new(0, 65535);

    public bool Contains(ushort port) => port >= First && port <= Last;

    public bool IsSingle => First == Last;

    public override string ToString() => IsSingle
        ? First.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{First}:{Last}");
}
