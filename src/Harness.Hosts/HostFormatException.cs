using System.Globalization;

namespace Harness.Hosts;

/// <summary>
/// A file Harness reads is malformed. <see cref="Message"/> is one line, "file:line:column: error: detail"
/// (line and column 1-based, left out when the format does not give them).
/// </summary>
public class InputFormatException : Exception
{
    public InputFormatException(string file, int? line, int? column, string detail, Exception? inner = null)
        : base(Format(file, line, column, detail), inner)
    {
        File = file;
        Line = line;
        Column = column;
        Detail = detail;
    }

    public string File { get; }
    public int? Line { get; }
    public int? Column { get; }

    /// <summary>What was wrong, without the position.</summary>
    public string Detail { get; }

    private static string Format(string file, int? line, int? column, string detail)
    {
        var where = line is int l
            ? column is int c
                ? string.Create(CultureInfo.InvariantCulture, $"{file}:{l}:{c}")
                : string.Create(CultureInfo.InvariantCulture, $"{file}:{l}")
            : file;
        return $"{where}: error: {detail}";
    }
}

/// <summary>A host description (YAML, ip -j dumps, sysctl -a text) that cannot be read.</summary>
public sealed class HostFormatException : InputFormatException
{
    public HostFormatException(string file, int? line, int? column, string detail, Exception? inner = null)
        : base(file, line, column, detail, inner)
    {
    }
}
