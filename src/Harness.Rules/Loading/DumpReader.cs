using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Rules.Parsing;

namespace Harness.Rules.Loading;

/// <summary>
/// Reads an iptables-save document (what iptables-restore reads) with an explicit state machine:
/// outside a table → "*table" → chain declarations and rules (any iptables command without -t) → COMMIT.
/// Each committed block replaces that table; a block is checked the way the kernel checks it, at COMMIT.
/// </summary>
internal sealed partial class DumpReader(LoadState state, string path)
{
    private TableState? _pending;
    private string? _pendingName;
    private int _openLine;
    private int _lastLine;

    [GeneratedRegex(@"^:(?<chain>\S+)\s+(?<policy>\S+)(?:\s+(?<counters>\[\S*\]))?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex ChainLine();

    [GeneratedRegex(@"^\[(?<p>\d+):(?<b>\d+)\]$", RegexOptions.CultureInvariant)]
    private static partial Regex CountersText();

    private bool InTable => _pendingName is not null;

    /// <summary>
    /// Classifies a line exactly as iptables-restore does: empty and "#" lines are skipped; "*" in column 1 opens a
    /// table; "COMMIT" alone (no blanks) commits; ":" in column 1 declares a chain; anything else in a table is a
    /// command line ("-A …"), so a stray "COMMIT " or a line of blanks is refused as iptables-restore refuses it.
    /// </summary>
    public void Read(SourceLine line)
    {
        _lastLine = line.Number;
        var text = line.Text;
        if (text.Length == 0 || text[0] == '#') return;
        try
        {
            if (text[0] == '*' && !InTable) OpenTable(text);
            else if (text == "COMMIT" && InTable) Commit();
            else if (!InTable) OutsideTable(text);
            else if (_pending is null) return; // inside a block whose header was refused: skip to its COMMIT
            else if (text[0] == ':') DeclareChain(text.TrimEnd(), line.Number);
            else if (text[0] == '*') throw new RuleSyntaxException(Messages.TableInsideTable(text[1..].Trim(), _pendingName!, _openLine), 1);
            else RunCommand(text, line.Number);
        }
        catch (RuleSyntaxException e)
        {
            state.Diagnostics.Report(new SourceLocation(path, line.Number, e.Column > 0 ? e.Column : 1), e.Message);
        }
    }

    /// <summary>End of input: a block never committed is reported and not loaded, as iptables-restore does.</summary>
    public void Finish()
    {
        if (!InTable) return;
        state.Diagnostics.Report(new SourceLocation(path, _lastLine + 1, 1), Messages.MissingCommit(_pendingName!, _openLine));
        _pending = null;
        _pendingName = null;
    }

    private void OpenTable(string text)
    {
        var name = text[1..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
        _pendingName = name;
        _openLine = _lastLine;
        if (!TableNames.IsKnown(name))
        {
            _pending = null;
            throw new RuleSyntaxException(Messages.UnknownTable(name), 2);
        }
        _pending = state.Tables.TryGetValue(name, out var existing) ? existing.FlushedCopy() : new TableState(name);
    }

    private void Commit()
    {
        if (!InTable) throw new RuleSyntaxException(Messages.CommitOutsideTable, 1);
        var table = _pending;
        _pending = null;
        _pendingName = null;
        if (table is null) return;
        foreach (var refusal in KernelChecks.Check(table, state.Family))
        {
            state.Diagnostics.Report(refusal.Rule.Source, refusal.Message);
            refusal.Chain.Rules.Remove(refusal.Rule);
        }
        state.Tables[table.Name] = table;
    }

    private static void OutsideTable(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length == 0) throw new RuleSyntaxException(Messages.BlankLineOutsideTable, 1);
        if (text[0] == ':') throw new RuleSyntaxException(Messages.ChainOutsideTable, 1);
        if (text == "COMMIT") throw new RuleSyntaxException(Messages.CommitOutsideTable, 1);
        if (trimmed[0] is '-' or '[') throw new RuleSyntaxException(Messages.RuleOutsideTable, 1);
        throw new RuleSyntaxException(Messages.ExpectedOutsideTable(Shorten(trimmed)), text.Length - text.TrimStart().Length + 1);
    }

    private void DeclareChain(string trimmed, int number)
    {
        var m = ChainLine().Match(trimmed);
        if (!m.Success) throw new RuleSyntaxException(Messages.BadChainLine(Shorten(trimmed)), 1);
        var name = m.Groups["chain"].Value;
        var policy = m.Groups["policy"].Value;
        Counters? counters = null;
        // iptables-restore reads chain counters only with -c; without it (what Harness models) it ignores them.
        if (m.Groups["counters"].Success && CountersText().Match(m.Groups["counters"].Value) is { Success: true } c)
            counters = TryParseCounters(c.Groups["p"].Value, c.Groups["b"].Value);
        var table = _pending!;
        int policyColumn = m.Groups["policy"].Index + 1;
        if (table.IsBuiltinName(name))
        {
            var chain = table.Find(name)!;
            if (policy != "-")
            {
                // Unlike "iptables -P", iptables-restore lets a nat chain have a DROP policy (the kernel accepts it).
                chain.Policy = CommandExecutor.ParsePolicy(policy)
                    ?? throw new RuleSyntaxException(Messages.BadPolicyInRestore(policy, name, number), policyColumn);
            }
            chain.PolicyCounters = counters;
            return;
        }
        if (name.Length >= 29) throw new RuleSyntaxException(Messages.ChainTooLong(name), 2);
        if (table.Find(name) is not null) throw new RuleSyntaxException(Messages.ChainExistsInRestore(name), 2);
        table.AddUserChain(name);
        if (policy != "-") throw new RuleSyntaxException(Messages.PolicyOnUserChainInRestore(policy, name, number), policyColumn);
    }

    private void RunCommand(string text, int number)
    {
        Counters? prefix = null;
        int offset = 0;
        var body = text;
        if (text[0] == '[')
        {
            // iptables-restore checks the shape "[p:b]" and, without -c, ignores the numbers.
            int close = text.IndexOf(']');
            int colon = text.IndexOf(':');
            if (close < 0 || colon < 0 || colon > close) throw new RuleSyntaxException(Messages.BadRuleCounters(number), 1);
            prefix = TryParseCounters(text[1..colon], text[(colon + 1)..close]);
            body = text[(close + 1)..];
            offset = close + 1;
        }
        IReadOnlyList<Token> split;
        try { split = ShellWords.SplitRestore(body); }
        catch (RuleSyntaxException e) { throw new RuleSyntaxException(e.Message, e.Column + offset); }
        var words = split.Select(t => t with { Column = t.Column + offset }).ToList();
        if (words.Count == 0) throw new RuleSyntaxException(Messages.BlankLineInTable, 1);
        if (!words[0].Text.StartsWith('-'))
            throw new RuleSyntaxException(Messages.NotACommandInTable(words[0].Text), words[0].Column);
        var command = CommandParser.Parse(words, _pending!.Name);
        if (prefix is not null && command.Counters is null) command = command with { Counters = prefix };
        var location = new SourceLocation(path, number, words[0].Column);
        state.Executor.Execute(command, _pending, location, text.Trim(), kernelChecks: false);
    }

    private static Counters? TryParseCounters(string packets, string bytes) =>
        ulong.TryParse(packets, NumberStyles.None, CultureInfo.InvariantCulture, out var p)
        && ulong.TryParse(bytes, NumberStyles.None, CultureInfo.InvariantCulture, out var b)
            ? new Counters(p, b)
            : null;

    internal static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
