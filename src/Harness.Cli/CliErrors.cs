using Harness.Golden.Check;
using Harness.Hosts;
using Harness.Packets;

namespace Harness.Cli;

/// <summary>Which exceptions mean "bad input" (exit 2, one line on stderr) rather than a bug.</summary>
public static class CliErrors
{
    public static bool IsBadInput(Exception e) =>
        e is InputFormatException or CaseInputException or CaptureFormatException or FormatException or FileNotFoundException or DirectoryNotFoundException
            or Harness.Engine.EngineSetupException or UnauthorizedAccessException or IOException
            or FlowFormatException or Harness.Oracle.OracleException;

    public static string OneLine(Exception e)
    {
        var message = e switch
        {
            InputFormatException or CaseInputException => e.Message,
            CaptureFormatException c => $"{c.Path}: error: byte offset {c.Offset}: {c.Detail}",
            Harness.Engine.EngineSetupException => "error: " + e.Message,
            FlowFormatException f => $"{f.Path}:{f.Line}:{f.Column}: error: {f.Detail}",
            Harness.Oracle.OracleException => "harness oracle: " + e.Message,
            _ => "harness: error: " + e.Message,
        };
        int nl = message.IndexOfAny(['\r', '\n']);
        return nl < 0 ? message : message[..nl];
    }
}
