namespace Harness.Rules.Tests.Support;

/// <summary>iptables-save text cut into table blocks ("*name" … "COMMIT"), comment lines dropped.</summary>
public static class SaveText
{
    public static Dictionary<string, List<string>> Blocks(string text)
    {
        var blocks = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string>? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith('*')) { current = [line]; blocks[line[1..]] = current; continue; }
            current?.Add(line);
        }
        return blocks;
    }

    /// <summary>The lines of save text without comment lines, in order.</summary>
    public static List<string> WithoutComments(string text) =>
        [.. text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0 && !l.StartsWith('#'))];

    /// <summary>The block of an existing table with no rules and ACCEPT policies.</summary>
    public static List<string> EmptyBlock(string table) =>
        [$"*{table}", .. TableNames.BuiltinChains(table).Select(c => $":{c} ACCEPT [0:0]"), "COMMIT"];

    /// <summary>A restore document that empties all five tables (flushes rules, deletes user chains, ACCEPT policies).</summary>
    public static string ResetDocument() =>
        string.Concat(new[] { "raw", "mangle", "nat", "filter", "security" }.Select(t => string.Join("\n", EmptyBlock(t)) + "\n"));

    /// <summary>The first line where two blocks differ, as "ours | kernel", or null when they are equal.</summary>
    public static string? FirstDifference(IReadOnlyList<string> ours, IReadOnlyList<string> kernel)
    {
        for (int i = 0; i < Math.Max(ours.Count, kernel.Count); i++)
        {
            var a = i < ours.Count ? ours[i] : "<end>";
            var b = i < kernel.Count ? kernel[i] : "<end>";
            if (a != b) return $"line {i + 1} of the block: ours: {a}\n      kernel: {b}";
        }
        return null;
    }
}
