using System.Globalization;

namespace Harness.Packets;

/// <summary>
/// A capture file that is truncated or corrupt. <see cref="CaptureReader.Read(string, CaptureOptions?)"/> throws it from
/// the enumerator at the point of damage, after every earlier packet has been yielded.
/// </summary>
public sealed class CaptureFormatException : Exception
{
    public CaptureFormatException(string path, long offset, string detail)
        : base(string.Create(CultureInfo.InvariantCulture, $"{path}: byte offset {offset}: {detail}"))
    {
        Path = path;
        Offset = offset;
        Detail = detail;
    }

    /// <summary>The capture file (or stream name).</summary>
    public string Path { get; }

    /// <summary>Byte offset in the file of the record or block that could not be read.</summary>
    public long Offset { get; }

    /// <summary>What was wrong, without the location.</summary>
    public string Detail { get; }
}
