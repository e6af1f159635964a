using System.Globalization;
using System.Text;
using Harness.Golden.Csv;

namespace Harness.Golden.Check;

/// <summary>The plain-text report of a check run (the CLI adds colour and a table on top).</summary>
public static class CheckText
{
    /// <summary>Packets listed per case before "… N more".</summary>
    public const int MaxPacketsShown = 50;

    public static string StatusWord(CaseStatus s) => s switch
    {
        CaseStatus.Pass => "PASS",
        CaseStatus.Fail => "FAIL",
        CaseStatus.NoGolden => "NO GOLDEN",
        CaseStatus.Updated => "UPDATED",
        CaseStatus.Created => "CREATED",
        CaseStatus.BadInput => "BAD INPUT",
        _ => s.ToString(),
    };

    /// <summary>One line per case: what happened, in words.</summary>
    public static string Headline(CaseResult c) => c.Status switch
    {
        CaseStatus.Pass => Inv($"{c.Rows} rows match {c.GoldenPath}"),
        CaseStatus.Fail => Inv($"{c.Differences.Length} differences in {c.ChangedPackets.Length} packets ({PacketList(c)}) against {c.GoldenPath}"),
        CaseStatus.NoGolden => Inv($"no golden at {c.GoldenPath} ({c.Rows} rows produced; run with --update to create it)"),
        CaseStatus.Updated => Inv($"updated {c.GoldenPath}: {c.ChangedPackets.Length} rows changed ({PacketList(c)})"),
        CaseStatus.Created => Inv($"created {c.GoldenPath} ({c.Rows} rows)"),
        CaseStatus.BadInput => c.Error ?? "bad input",
        _ => c.Status.ToString(),
    };

    /// <summary>Every difference of a case, grouped by packet, with the packet's new path.</summary>
    public static string Differences(CaseResult c)
    {
        var sb = new StringBuilder();
        var byPacket = c.Differences.GroupBy(d => d.Packet, StringComparer.Ordinal).ToList();
        foreach (var group in byPacket.Take(MaxPacketsShown))
        {
            sb.Append("  packet ").Append(group.Key).Append('\n');
            foreach (var d in group)
            {
                if (d.Column == "*") sb.Append("    row: expected ").Append(d.Expected).Append(", actual ").Append(d.Actual).Append('\n');
                else sb.Append("    ").Append(d.Column).Append(": expected ").Append(Show(d.Expected)).Append(", actual ").Append(Show(d.Actual)).Append('\n');
            }
            // The packet's path as it is now, unless the path column itself is among the differences above.
            var path = group.First().NewPath;
            if (path.Length > 0 && !group.Any(d => d.Column == "path")) sb.Append("    new path: ").Append(path).Append('\n');
        }
        if (byPacket.Count > MaxPacketsShown)
            sb.Append(Inv($"  … {byPacket.Count - MaxPacketsShown} more packets differ\n"));
        return sb.ToString();
    }

    /// <summary>The whole report: one line per case, the differences under each, and a summary line.</summary>
    public static string Report(CheckReport report)
    {
        var sb = new StringBuilder();
        foreach (var c in report.Cases)
        {
            sb.Append(StatusWord(c.Status).PadRight(10)).Append(c.Name).Append(": ").Append(Headline(c)).Append('\n');
            if (c.Status is CaseStatus.Fail or CaseStatus.Updated) sb.Append(Differences(c));
        }
        sb.Append(Summary(report)).Append('\n');
        return sb.ToString();
    }

    public static string Summary(CheckReport r)
    {
        var parts = new List<string> { Inv($"{r.Cases.Length} cases"), Inv($"{r.Count(CaseStatus.Pass)} passed") };
        void Add(CaseStatus s, string word) { if (r.Count(s) > 0) parts.Add(Inv($"{r.Count(s)} {word}")); }
        Add(CaseStatus.Fail, "failed");
        Add(CaseStatus.NoGolden, "without golden");
        Add(CaseStatus.Updated, "updated");
        Add(CaseStatus.Created, "created");
        Add(CaseStatus.BadInput, "bad input");
        var word = r.ExitCode switch { ExitCodes.Ok => "OK", ExitCodes.Differences => "DIFFERENCES", _ => "BAD INPUT" };
        return $"{word}: {string.Join(", ", parts)}";
    }

    private static string PacketList(CaseResult c)
    {
        var packets = c.ChangedPackets;
        var shown = string.Join(", ", packets.Take(10));
        return packets.Length > 10 ? Inv($"{shown}, … {packets.Length - 10} more") : shown;
    }

    private static string Show(string s) => s.Length == 0 ? "(empty)" : s;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
