using System.Diagnostics;
using System.Text;
using Harness.Rules.Loading;

namespace Harness.Rules.Tests.Loading;

/// <summary>100 MB inputs: streamed, a clear message, no exception, no hang.</summary>
public class LargeInputTests
{
    private const long HundredMegabytes = 100L * 1024 * 1024;

    private static LoadResult LoadWritten(Action<Stream> write)
    {
        var path = Path.Combine(Path.GetTempPath(), $"hx-rules-{Environment.ProcessId}-{Guid.NewGuid():N}.rules");
        try
        {
            using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                write(stream);
            var watch = Stopwatch.StartNew();
            var result = RulesetLoader.LoadFiles([path]);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
            return result;
        }
        finally { File.Delete(path); }
    }

    private static void Repeat(Stream stream, string line, long bytes)
    {
        var chunk = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(line, 4096)));
        for (long written = 0; written < bytes; written += chunk.Length) stream.Write(chunk);
    }

    [Fact]
    public void A_100_MB_dump_of_comments_streams_through()
    {
        var result = LoadWritten(s =>
        {
            s.Write("*filter\n"u8);
            Repeat(s, "# a comment line that iptables-restore skips, forty-ish bytes\n", HundredMegabytes);
            s.Write("-A INPUT -j ACCEPT\nCOMMIT\n"u8);
        });
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        Assert.Single(result.Ruleset.AllRules);
    }

    [Fact]
    public void A_100_MB_single_line_is_reported_as_too_long()
    {
        var result = LoadWritten(s => { s.Write("*filter\n"u8); Repeat(s, "x", HundredMegabytes); });
        Assert.Contains(result.Diagnostics, d => d.Message.StartsWith("line longer than 1048576 bytes", StringComparison.Ordinal));
        Assert.Contains(result.Diagnostics, d => d.Message.StartsWith("COMMIT expected", StringComparison.Ordinal));
    }

    [Fact]
    public void A_100_MB_file_of_bad_lines_stops_after_an_error_limit()
    {
        var result = LoadWritten(s => { s.Write("*filter\n"u8); Repeat(s, "-A NOPE -j ACCEPT\n", HundredMegabytes); });
        // 100 shown, then the count of the others (999 more refused lines and the "stopped" line).
        Assert.Equal(101, result.Diagnostics.Length);
        Assert.Equal("… 901 more errors not shown", result.Diagnostics[^1].Message);
        Assert.All(result.Diagnostics.Take(100), d => Assert.StartsWith("No chain/target/match by that name.", d.Message));
    }

    [Fact]
    public void A_100_MB_file_that_is_not_a_ruleset_is_refused_after_a_few_lines()
    {
        var result = LoadWritten(s => Repeat(s, "Lorem ipsum dolor sit amet\n", HundredMegabytes));
        Assert.Equal(21, result.Diagnostics.Length);
        Assert.StartsWith("none of the first 20 lines", result.Diagnostics[^1].Message);
    }
}

public class LongScriptTests
{
    [Fact]
    public void A_script_of_five_thousand_jumps_loads_in_reasonable_time()
    {
        var text = new StringBuilder();
        for (int i = 0; i < 50; i++) text.Append("iptables -t nat -N svc").Append(i).Append('\n');
        for (int i = 0; i < 5000; i++)
            text.Append("iptables -t nat -A PREROUTING -d 10.0.").Append(i / 250).Append('.').Append(i % 250)
                .Append(" -p tcp --dport 80 -j svc").Append(i % 50).Append('\n');
        for (int i = 0; i < 50; i++) text.Append("iptables -t nat -A svc").Append(i).Append(" -j DNAT --to-destination 10.1.0.").Append(i).Append('\n');
        var watch = Stopwatch.StartNew();
        var result = Support.Loads.Text(text.ToString());
        Assert.True(result.Success, Support.Loads.Errors(result));
        Assert.Equal(5050, result.Ruleset.AllRules.Count());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }
}
