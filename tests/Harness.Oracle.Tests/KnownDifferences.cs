using Harness.Golden.Csv;
using Harness.Oracle.Fuzz;

namespace Harness.Oracle.Tests;

/// <summary>
/// The disagreements known-differences.md (repository root) explains, recognised by their shape: one category per
/// section there. A disagreement of any other shape is unexplained.
/// </summary>
internal static class KnownDifferences
{
    /// <summary>True when every difference of the run has a category.</summary>
    public static bool Explains(FuzzRun run)
    {
        if (run.EngineError is not null) return false;
        return run.Differences.All(d => Category(d, run) is not null);
    }

    /// <summary>The section of known-differences.md that explains <paramref name="d"/> (a difference of <paramref name="run"/>), or null.</summary>
    public static string? Category(CellDifference d, FuzzRun run)
    {
        // A port the kernel drew at random shows in the packet's nat cell and in its port column.
        if (d.Column is "sport" or "dport"
            && run.Differences.Any(n => n.Packet == d.Packet && n.Column == "nat" && IsRandomPort(n)))
            return "nat-port-random";
        // A packet translated in PREROUTING and then dropped for its TTL / hop limit: the trace shows no headers after
        // the translation, so the kernel side keeps the packet's arriving addresses and no nat.
        if (d.Column is "nat" or "src" or "sport" or "dst" or "dport"
            && run.Differences.Any(n => n.Packet == d.Packet && n.Column == "nat" && n.Actual.Length == 0 && n.Expected.Length > 0)
            && ExpiredInForwarding(d.Packet, run))
            return "nat-then-ttl-expired";
        return Category(d);
    }

    public static string? Category(CellDifference d)
    {
        if (d.Column == "nat" && IsRandomPort(d))
            return "nat-port-random";
        bool generated = d.Packet.Contains('r', StringComparison.Ordinal);
        if (d.Expected == CellDifference.ExtraRow && d.Actual.Contains(":5/1 ", StringComparison.Ordinal))
            return "icmp-redirect";
        if (generated && d.Column == "nat" && d.Expected.EndsWith("(and the quoted packet)", StringComparison.Ordinal) && d.Actual.Length == 0)
            return "icmp-error-nat-quoted-only";
        return null;
    }

    /// <summary>The engine dropped the (non-generated) packet <paramref name="packet"/> in forwarding for its TTL / hop limit.</summary>
    private static bool ExpiredInForwarding(string packet, FuzzRun run) =>
        long.TryParse(packet, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
        && run.Engine.Any(o => !o.Generated && o.PacketNumber == number && o.Disposition == Harness.Engine.Disposition.Dropped
            && o.Reason is "TTL exceeded in forwarding" or "hop limit exceeded in forwarding");

    /// <summary>
    /// The same translation on both sides but for the port (or ICMP echo id) it ends at, e.g. "src [a]:40003->[a]:2003"
    /// / "…:38465", "src a id 40001->b id 10619" / "… id 13443".
    /// </summary>
    private static bool IsRandomPort(CellDifference d)
    {
        int e = PortStart(d.Expected), a = PortStart(d.Actual);
        // A DNAT and the port-moving source NAT of one packet ("dst …; src …->…:port") count too: all but the last port equal.
        if (e <= 0 || a <= 0 || d.Expected.IndexOf(';', e) >= 0 || d.Actual.IndexOf(';', a) >= 0) return false;
        return d.Expected.Contains("->", StringComparison.Ordinal)
            && d.Expected.AsSpan(0, e).SequenceEqual(d.Actual.AsSpan(0, a))
            && ushort.TryParse(d.Expected.AsSpan(e + 1), out _) && ushort.TryParse(d.Actual.AsSpan(a + 1), out _);
    }

    /// <summary>Where the last port starts, less one: its ':' or the blank before an echo id's number (" id N").</summary>
    private static int PortStart(string cell)
    {
        int colon = cell.LastIndexOf(':'), id = cell.LastIndexOf(" id ", StringComparison.Ordinal);
        return id > colon ? id + 3 : colon;
    }
}
