using System.Diagnostics;

namespace Harness.Oracle.Native;

/// <summary>Runs one external program (never through a shell), optionally feeding it text, and returns what it printed.</summary>
internal static class Command
{
    public sealed record Result(int ExitCode, string Output, string Error);

    public static Result Run(string program, IEnumerable<string> arguments, string? input = null, int timeoutMs = 30_000)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["LC_ALL"] = "C";
        using var process = Process.Start(info) ?? throw new OracleException($"cannot start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(timeoutMs))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new OracleException($"{Describe(program, arguments)} did not finish within {timeoutMs / 1000} s");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs the program and throws, with its error output, when it fails.</summary>
    public static string Check(string program, IEnumerable<string> arguments, string? input = null, int timeoutMs = 30_000)
    {
        var args = arguments.ToList();
        var result = Run(program, args, input, timeoutMs);
        if (result.ExitCode != 0)
            throw new OracleException($"{Describe(program, args)} failed ({result.ExitCode}): {FirstLines(result.Error + result.Output)}");
        return result.Output;
    }

    /// <summary>Runs the program inside a namespace (ip netns exec NS program …) and throws when it fails.</summary>
    public static string InNamespace(string ns, string program, IEnumerable<string> arguments, string? input = null) =>
        Check("ip", new[] { "netns", "exec", ns, program }.Concat(arguments), input);

    public static Result RunInNamespace(string ns, string program, IEnumerable<string> arguments, string? input = null) =>
        Run("ip", new[] { "netns", "exec", ns, program }.Concat(arguments).ToList(), input);

    public static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, program)));

    private static string Describe(string program, IEnumerable<string> arguments) => program + " " + string.Join(' ', arguments);

    private static string FirstLines(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(" | ", lines.Take(6));
    }
}
