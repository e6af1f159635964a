using Harness.Cli;
using Harness.Golden.Check;
using Xunit.Abstractions;

namespace Harness.Golden.Tests;

public class CliTests(ITestOutputHelper output)
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = HarnessCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("replay")]
    [InlineData("check")]
    [InlineData("trace")]
    [InlineData("compare")]
    [InlineData("fmt")]
    [InlineData("lint")]
    public void Every_command_has_help_with_the_exit_codes(string command)
    {
        var (code, stdout, _) = Cli(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Exit codes: 0 ok, 1 differences found, 2 bad input", stdout);
        Assert.Contains("Usage:", stdout);
    }

    [Fact]
    public void A_command_line_that_does_not_parse_exits_2()
    {
        var (code, _, stderr) = Cli("replay", "--rules", "x", "--no-such-option");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--no-such-option", stderr);
        Assert.Equal(ExitCodes.BadInput, Cli("frobnicate").Code);
    }

    [Fact]
    public void Fmt_prints_the_canonical_save_text_of_a_dump_plus_a_script()
    {
        var c = Path.Combine(Repository.Captures, "insert-fix");
        var (code, stdout, stderr) = Cli("fmt", Path.Combine(c, "distro.rules"), Path.Combine(c, "installer.sh"));
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n');
        int insert = Array.IndexOf(lines, "-A INPUT -p tcp -m state --state NEW -m tcp --dport 8080 -j ACCEPT");
        int reject = Array.IndexOf(lines, "-A INPUT -j REJECT --reject-with icmp-host-prohibited");
        Assert.True(insert > 0 && insert < reject, stdout);
    }

    [Fact]
    public void Lint_reports_every_diagnostic_and_exits_2()
    {
        using var dir = new TempDir();
        var file = dir.File("bad.rules", "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPTT\n-A NOPE -j DROP\nCOMMIT\n");
        var (code, stdout, _) = Cli("lint", file);
        output.WriteLine(stdout);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("bad.rules:3:", stdout);
        Assert.Contains("bad.rules:4:", stdout);
        var ok = Cli("lint", Path.Combine(Repository.Captures, "router", "rules.v4"));
        Assert.Equal(0, ok.Code);
        Assert.Contains("no problems", ok.Out);
    }

    [Fact]
    public void Replay_with_a_missing_host_is_one_line_and_exit_2()
    {
        var c = Path.Combine(Repository.Captures, "router");
        var (code, stdout, stderr) = Cli("replay", "--rules", Path.Combine(c, "rules.v4"), "--host", "/nonexistent/host.yaml", "--flows", Path.Combine(c, "flows.yaml"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", stdout);
        Assert.Equal("/nonexistent/host.yaml: error: --host file not found\n", stderr);
    }

    [Fact]
    public void Trace_draws_the_path_of_a_packet()
    {
        var c = Path.Combine(Repository.Captures, "port-forward");
        var (code, stdout, stderr) = Cli("trace", "--rules", Path.Combine(c, "rules.v4"), "--host", Path.Combine(c, "host.yaml"),
            "--packet", "tcp 198.51.100.20:51000 -> 203.0.113.2:8080 syn in wan0");
        output.WriteLine(stdout);
        Assert.True(code == 0, stderr);
        Assert.Contains("packet 1", stdout);
        Assert.Contains("PREROUTING", stdout);
        Assert.Contains("nat:PREROUTING\n", stdout);
        Assert.Contains("rule 1 (line ", stdout);
        Assert.Contains("FORWARD", stdout);
        Assert.Contains("ACCEPT", stdout);
        Assert.Contains("192.168.1.10:80", stdout);
    }

    [Fact]
    public void Compare_counts_the_flows_a_change_would_block()
    {
        using var dir = new TempDir();
        var c = Path.Combine(Repository.Captures, "router");
        var newRules = dir.File("new.rules", File.ReadAllText(Path.Combine(c, "rules.v4"))
            .Replace("-A FORWARD -i lan0 -o wan0 -s 10.1.0.0/24 -j ACCEPT", "-A FORWARD -i lan0 -o wan0 -s 10.1.0.0/24 -p tcp -j ACCEPT", StringComparison.Ordinal));
        var (code, stdout, stderr) = Cli("compare", "--rules", Path.Combine(c, "rules.v4"), "--rules", newRules,
            "--host", Path.Combine(c, "host.yaml"), "--flows", Path.Combine(c, "flows.yaml"));
        output.WriteLine(stdout);
        Assert.True(code == ExitCodes.Differences, stderr);
        // The DNS (udp) and ping (icmp) flows from the LAN are no longer let out; TCP is unchanged.
        Assert.Contains("2 of 6 flows changed", stdout);
        Assert.Contains("2 would be blocked", stdout);
        Assert.Contains("udp 10.1.0.20:53000 -> 9.9.9.9:53", stdout);
        var same = Cli("compare", "--rules", Path.Combine(c, "rules.v4"), "--rules", Path.Combine(c, "rules.v4"),
            "--host", Path.Combine(c, "host.yaml"), "--flows", Path.Combine(c, "flows.yaml"));
        Assert.Equal(ExitCodes.Ok, same.Code);
        Assert.Contains("0 of 6 flows changed", same.Out);
    }
}
