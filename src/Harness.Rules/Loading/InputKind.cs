using Harness.Net;

namespace Harness.Rules.Loading;

/// <summary>What an input is, decided by its first significant line.</summary>
internal enum InputKind
{
    Unknown,
    Dump,
    Script,
}

/// <summary>Recognises dumps and scripts, and guesses the family of an input that does not say.</summary>
internal static class InputSniffer
{
    /// <summary>The kind a line shows, or Unknown for blank, comment and unrecognisable lines.</summary>
    public static InputKind KindOf(string text)
    {
        var t = text.TrimStart();
        if (t.Length == 0 || t[0] == '#') return InputKind.Unknown;
        if (t[0] is '*' or ':' or '[' or '-' || t.TrimEnd() == "COMMIT") return InputKind.Dump;
        var program = ScriptReader.ProgramWord(t);
        return program is not null && ScriptReader.ProgramFamily(program) is not null ? InputKind.Script : InputKind.Unknown;
    }

    /// <summary>
    /// The family an input's own text shows: the program of a script's first command; for a dump, an address after
    /// -s/-d (decisive), else IPv6-only or IPv4-only modules; null when nothing tells.
    /// </summary>
    public static Family? GuessFamily(IEnumerable<SourceLine> lines, string path) => Evidence(lines, path)?.Family;

    /// <summary>What shows an input's family: the family, the line, what shows it, and whether it is decisive.</summary>
    public sealed record FamilyEvidence(Family Family, int Line, string What, bool Decisive);

    public static FamilyEvidence? Evidence(IEnumerable<SourceLine> lines, string path)
    {
        int v4 = 0, v6 = 0, unknown = 0;
        bool sawDump = false;
        foreach (var line in lines)
        {
            var kind = line.Text.Length > 0 && line.Text[0] == '-' ? InputKind.Dump : KindOf(line.Text);
            if (kind == InputKind.Script)
            {
                var program = ScriptReader.ProgramWord(line.Text)!;
                return new FamilyEvidence(ScriptReader.ProgramFamily(program)!.Value, line.Number, $"'{program}'", true);
            }
            if (kind != InputKind.Dump)
            {
                // Not a ruleset at all (the loader says so): do not read a huge file to the end for nothing.
                if (!sawDump && line.Text.Trim() is { Length: > 0 } t && t[0] != '#' && ++unknown >= 20) return null;
                continue;
            }
            sawDump = true;
            var words = line.Text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < words.Length; i++)
            {
                var w = words[i];
                if (w is "-s" or "-d" or "--source" or "--destination" or "--src" or "--dst" && i + 1 < words.Length)
                    return new FamilyEvidence(words[i + 1].Contains(':') ? Family.IPv6 : Family.IPv4, line.Number,
                        $"address {words[i + 1]}", true);
                if (w is "icmp6" or "--icmpv6-type" or "hl" or "--hl-eq" or "--hl-lt" or "--hl-gt" or "--hl-set"
                    or "--hl-inc" or "--hl-dec" or "ipv6header" or "frag" or "rt" or "HL" || w.StartsWith("icmp6-", StringComparison.Ordinal))
                    v6++;
                if (w is "icmp" or "--icmp-type" or "ttl" or "--ttl-eq" or "--ttl-lt" or "--ttl-gt" or "-f" or "TTL"
                    || (w.StartsWith("icmp-", StringComparison.Ordinal) && w != "icmp-proto-unreachable"))
                    v4++;
            }
        }
        if (v6 != v4) return new FamilyEvidence(v6 > v4 ? Family.IPv6 : Family.IPv4, 0, "its modules", false);
        var name = System.IO.Path.GetFileName(path);
        if (name.Contains("ip6tables", StringComparison.OrdinalIgnoreCase)) return new FamilyEvidence(Family.IPv6, 0, "its name", false);
        return null;
    }
}
