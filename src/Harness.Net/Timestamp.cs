using System.Globalization;

namespace Harness.Net;

/// <summary>A point on the capture's clock: nanoseconds since the Unix epoch. The only clock Harness uses.</summary>
public readonly record struct Timestamp(long Nanoseconds) : IComparable<Timestamp>
{
    public static Timestamp FromSeconds(double seconds) => new((long)Math.Round(seconds * 1e9));

    public double Seconds => Nanoseconds / 1e9;

    public int CompareTo(Timestamp other) => Nanoseconds.CompareTo(other.Nanoseconds);

    public static TimeSpanNs operator -(Timestamp a, Timestamp b) => new(a.Nanoseconds - b.Nanoseconds);

    public static bool operator <(Timestamp a, Timestamp b) => a.Nanoseconds < b.Nanoseconds;
    public static bool operator >(Timestamp a, Timestamp b) => a.Nanoseconds > b.Nanoseconds;
    public static bool operator <=(Timestamp a, Timestamp b) => a.Nanoseconds <= b.Nanoseconds;
    public static bool operator >=(Timestamp a, Timestamp b) => a.Nanoseconds >= b.Nanoseconds;

    /// <summary>Seconds with nine decimals, e.g. "1700000000.000123456".</summary>
    public override string ToString()
    {
        long s = Math.DivRem(Nanoseconds, 1_000_000_000L, out long ns);
        if (ns < 0) { s -= 1; ns += 1_000_000_000L; }
        return string.Create(CultureInfo.InvariantCulture, $"{s}.{ns:D9}");
    }
}

/// <summary>A duration in nanoseconds on the capture's clock.</summary>
public readonly record struct TimeSpanNs(long Nanoseconds)
{
    public double Seconds => Nanoseconds / 1e9;
}
