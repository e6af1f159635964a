using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Loading;

/// <summary>
/// Reads a script of iptables commands: one command per logical line ("\" continues a line), "#" comments and blank
/// lines, an optional leading "sudo". Each command is applied on its own, as running it would: a refused command
/// changes nothing and the script goes on.
/// </summary>
internal sealed class ScriptReader(LoadState state, string path)
{
    private readonly List<SourceLine> _pendingLines = [];

    /// <summary>The program names accepted at the start of a command, with the family each one manages.</summary>
    public static Family? ProgramFamily(string word)
    {
        var name = word[(word.LastIndexOf('/') + 1)..];
        return name switch
        {
            "iptables" or "iptables-legacy" or "iptables-nft" => Family.IPv4,
            "ip6tables" or "ip6tables-legacy" or "ip6tables-nft" => Family.IPv6,
            _ => null,
        };
    }

    /// <summary>The program word of a command line (after an optional sudo), or null for blank/comment lines.</summary>
    public static string? ProgramWord(string line)
    {
        IReadOnlyList<Token> words;
        try { words = ShellWords.Split(line); }
        catch (RuleSyntaxException) { return null; }
        if (words.Count == 0) return null;
        if (words[0].Text == "sudo") return words.Count > 1 ? words[1].Text : "sudo";
        return words[0].Text;
    }

    public void Read(SourceLine line)
    {
        _pendingLines.Add(line);
        if (EndsWithContinuation(line.Text)) return;
        RunLogicalLine();
    }

    public void Finish()
    {
        if (_pendingLines.Count > 0) RunLogicalLine();
    }

    private static bool EndsWithContinuation(string text)
    {
        int backslashes = 0;
        for (int i = text.Length - 1; i >= 0 && text[i] == '\\'; i--) backslashes++;
        return backslashes % 2 == 1;
    }

    private void RunLogicalLine()
    {
        var lines = _pendingLines.ToList();
        _pendingLines.Clear();
        var joined = string.Join("\n", lines.Select(l => l.Text));
        try
        {
            var words = ShellWords.Split(joined);
            if (words.Count == 0) return;
            Run(words, lines);
        }
        catch (RuleSyntaxException e)
        {
            state.Diagnostics.Report(Locate(lines, e.Column), e.Message);
        }
    }

    private void Run(IReadOnlyList<Token> words, List<SourceLine> lines)
    {
        int first = 0;
        if (words[0].Text == "sudo" && !words[0].WasQuoted) first = 1;
        if (first >= words.Count) throw new RuleSyntaxException(Messages.NotAnIptablesCommand("sudo"), words[0].Column);
        var program = words[first];
        var family = ProgramFamily(program.Text);
        if (family is null) throw new RuleSyntaxException(Messages.NotAnIptablesCommand(program.Text), program.Column);
        if (family != state.Family)
            throw new RuleSyntaxException(
                Messages.FamilyMismatch(program.Text, family == Family.IPv6 ? "IPv6" : "IPv4", state.FamilySource), program.Column);
        var command = CommandParser.Parse(words.Skip(first + 1).ToList(), null);
        var table = state.GetOrCreate(command.Table);
        var location = Locate(lines, program.Column);
        var text = string.Join(" ", lines.Select(l => l.Text.Trim()));
        try
        {
            state.Executor.Execute(command, table, location, text, kernelChecks: true);
        }
        catch (RuleSyntaxException e) when (e.Column == 0)
        {
            throw new RuleSyntaxException(e.Message, command.CommandToken.Column);
        }
    }

    /// <summary>Maps a 1-based column of the joined logical line back to its physical line and column.</summary>
    private SourceLocation Locate(List<SourceLine> lines, int column)
    {
        int offset = Math.Max(column, 1) - 1;
        foreach (var line in lines)
        {
            if (offset <= line.Text.Length) return new SourceLocation(path, line.Number, offset + 1);
            offset -= line.Text.Length + 1;
        }
        var last = lines[^1];
        return new SourceLocation(path, last.Number, last.Text.Length + 1);
    }
}
