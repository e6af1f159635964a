using Harness.Rules.Loading;
using Harness.Rules.Printing;
using Harness.Rules.Tests.Support;
using Xunit.Abstractions;

namespace Harness.Rules.Tests.Corpus;

/// <summary>What SavePrinter prints loads back to the same text (the canonical form is a fixed point).</summary>
public class RoundTripTests(ITestOutputHelper output)
{
    [Fact]
    public void Printed_real_rulesets_load_back_to_the_same_text()
    {
        if (!Support.RealData.Available(out var why)) { output.WriteLine(why); return; }
        int checkedFiles = 0;
        var failures = new List<string>();
        foreach (var (path, family) in Support.RealData.Rulesets())
        {
            var first = RulesetLoader.LoadFiles([path], family);
            if (!first.Success) continue;
            checkedFiles++;
            var printed = SavePrinter.Print(first.Ruleset, counters: true);
            var second = RulesetLoader.Load([new RulesetInput("printed", printed)], family);
            if (!second.Success) { failures.Add($"{path}: reloading refused: {second.Diagnostics[0]}"); continue; }
            var reprinted = SavePrinter.Print(second.Ruleset, counters: true);
            if (reprinted != printed) failures.Add($"{path}: {SaveText.FirstDifference(SaveText.WithoutComments(reprinted), SaveText.WithoutComments(printed))}");
        }
        output.WriteLine($"files round-tripped: {checkedFiles}, not a fixed point: {failures.Count}");
        foreach (var f in failures.Take(30)) output.WriteLine(f);
        Assert.Empty(failures);
    }
}
