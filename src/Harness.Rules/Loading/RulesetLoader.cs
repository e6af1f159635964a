using Harness.Net;

namespace Harness.Rules.Loading;

/// <summary>
/// Loads rulesets as a machine would end up holding them: the inputs run in order (iptables-restore for a dump,
/// which replaces the tables it names; iptables for each command of a script), with iptables' refusals reported
/// like a compiler, every error of every input, without stopping at the first.
/// </summary>
public static class RulesetLoader
{
    /// <summary>
    /// Loads <paramref name="inputs"/> in order. <paramref name="family"/>: the family, or null to take it from the
    /// first input that shows one (ip6tables commands, IPv6 addresses or modules); IPv4 when none does.
    /// </summary>
    public static LoadResult Load(IEnumerable<RulesetInput> inputs, Family? family = null)
    {
        var list = inputs.ToList();
        var diagnostics = new DiagnosticBag();
        var evidence = list.Select(i => InputSniffer.Evidence(Lines(i, new DiagnosticBag(), new SourceLines.Status()), i.Path)).ToList();
        var (decided, source) = DecideFamily(list, evidence, family);
        var state = new LoadState(decided, source, diagnostics);
        for (int i = 0; i < list.Count; i++)
        {
            if (evidence[i] is { Decisive: true, Line: > 0 } e && e.Family != decided && !IsScript(e))
            {
                diagnostics.Report(new SourceLocation(list[i].Path, e.Line, 1),
                    Messages.DumpFamilyMismatch(Describe(e.Family), e.What, source));
                continue;
            }
            LoadOne(state, list[i]);
        }
        return new LoadResult(state.Freeze(), diagnostics.ToImmutable());
    }

    /// <summary>Loads files in order (streamed; a missing file is a diagnostic).</summary>
    public static LoadResult LoadFiles(IEnumerable<string> paths, Family? family = null) =>
        Load(paths.Select(RulesetInput.FromFile), family);

    private static IEnumerable<SourceLine> Lines(RulesetInput input, DiagnosticBag diagnostics, SourceLines.Status status) =>
        input.IsFile
            ? SourceLines.FromFile(input.Path, diagnostics, status)
            : SourceLines.FromText(input.Path, input.Text, diagnostics, status);

    private static bool IsScript(InputSniffer.FamilyEvidence e) => e.What.StartsWith('\'');

    private static (Family, string) DecideFamily(List<RulesetInput> inputs, List<InputSniffer.FamilyEvidence?> evidence, Family? family)
    {
        if (family is Family given) return (given, Describe(given) + " (from the --family option)");
        for (int i = 0; i < inputs.Count; i++)
        {
            if (evidence[i] is { } e)
                return (e.Family, Describe(e.Family) + (e.Line > 0 ? $" (from {e.What} at {inputs[i].Path}:{e.Line})" : $" (from {e.What}, {inputs[i].Path})"));
        }
        return (Family.IPv4, "IPv4 (the default)");
    }

    private static string Describe(Family f) => f == Family.IPv6 ? "IPv6" : "IPv4";

    /// <summary>Significant lines read before giving up on an input that is neither a dump nor a script.</summary>
    private const int MaxUndecidedLines = 20;

    /// <summary>Errors in one input after which the rest of it is not read (like a compiler's error limit).</summary>
    private const int MaxErrorsPerInput = 1000;

    private static void LoadOne(LoadState state, RulesetInput input)
    {
        var kind = InputKind.Unknown;
        DumpReader? dump = null;
        ScriptReader? script = null;
        var undecided = new List<SourceLine>();
        bool crReported = false;
        var status = new SourceLines.Status();
        int errorsBefore = state.Diagnostics.Count;
        foreach (var physical in Lines(input, state.Diagnostics, status))
        {
            var line = physical;
            if (line.Number == 1 && line.Text.StartsWith('\uFEFF'))
            {
                state.Diagnostics.Report(new SourceLocation(input.Path, 1, 1), Messages.ByteOrderMark);
                line = line with { Text = line.Text[1..] };
            }
            if (line.Text.EndsWith('\r'))
            {
                if (!crReported)
                    state.Diagnostics.Report(new SourceLocation(input.Path, line.Number, line.Text.Length), Messages.CrLf);
                crReported = true;
                line = line with { Text = line.Text[..^1] };
            }
            if (line.Text.StartsWith('#')) state.Backend ??= DumpReader.BackendOf(line.Text);
            if (kind == InputKind.Unknown)
            {
                kind = InputSniffer.KindOf(line.Text);
                if (kind == InputKind.Unknown)
                {
                    if (line.Text.Trim() is { Length: > 0 } t && t[0] != '#') undecided.Add(line);
                    if (undecided.Count >= MaxUndecidedLines) break;
                    continue;
                }
                if (kind == InputKind.Dump) dump = new DumpReader(state, input.Path);
                else script = new ScriptReader(state, input.Path);
                foreach (var early in undecided) Feed(early);
                undecided.Clear();
            }
            Feed(line);
            if (state.Diagnostics.Count - errorsBefore >= MaxErrorsPerInput)
            {
                state.Diagnostics.Report(new SourceLocation(input.Path, line.Number, 1), Messages.StoppedAfterErrors(MaxErrorsPerInput));
                return;
            }
        }
        if (kind == InputKind.Unknown)
        {
            // Nothing recognisable: name the first lines that are not blank or comments.
            foreach (var line in undecided)
            {
                var t = line.Text.Trim();
                int column = line.Text.Length - line.Text.TrimStart().Length + 1;
                state.Diagnostics.Report(new SourceLocation(input.Path, line.Number, column),
                    Messages.NotARuleset(DumpReader.Shorten(t.Split(' ', '\t')[0])));
            }
            if (undecided.Count >= MaxUndecidedLines)
                state.Diagnostics.Report(new SourceLocation(input.Path, undecided[^1].Number, 1), Messages.NotARulesetStopped(MaxUndecidedLines));
            return;
        }
        if (status.StoppedAtBinary) return;
        dump?.Finish();
        script?.Finish();

        void Feed(SourceLine l)
        {
            if (dump is not null) dump.Read(l);
            else script!.Read(l);
        }
    }
}
