using Harness.Net;
using Harness.Rules.Loading;
using Harness.Rules.Printing;

namespace Harness.Rules.Tests.Support;

/// <summary>Small helpers to load text and look at the result.</summary>
public static class Loads
{
    public static LoadResult Text(string text, Family? family = null, string path = "t.rules") =>
        RulesetLoader.Load([new RulesetInput(path, text)], family);

    public static LoadResult Texts(params string[] texts) =>
        RulesetLoader.Load(texts.Select((t, i) => new RulesetInput($"in{i + 1}.rules", t)));

    /// <summary>The save text without empty built-in tables noise: just SavePrinter's output.</summary>
    public static string Save(this LoadResult result) => SavePrinter.Print(result.Ruleset);

    /// <summary>The "-A …" lines of one table, as iptables-save prints them.</summary>
    public static string[] RuleLines(this LoadResult result, string table = "filter") =>
        [.. result.Ruleset.FindTable(table)?.Chains.SelectMany(c => c.Rules).Select(r => SavePrinter.RuleLine(r, result.Ruleset.Family))
            ?? []];

    public static string Errors(this LoadResult result) => string.Join("\n", result.Diagnostics.Select(d => d.ToString()));

    public static string Lines(params string[] lines) => string.Join("\n", lines) + "\n";
}
