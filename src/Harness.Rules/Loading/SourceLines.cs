using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Harness.Rules.Loading;

/// <summary>One physical line of an input: 1-based number and text without the "\n" (a "\r" before it is kept).</summary>
internal readonly record struct SourceLine(int Number, string Text);

/// <summary>
/// Streams the lines of an input. Binary data (a NUL byte or invalid UTF-8) ends the input with one error giving the
/// byte offset; a line longer than <see cref="MaxLineBytes"/> is reported and skipped without being buffered.
/// </summary>
internal static class SourceLines
{
    /// <summary>Set when reading stopped at binary data (so the reader does not also report, say, a missing COMMIT).</summary>
    public sealed class Status
    {
        public bool StoppedAtBinary { get; set; }
    }

    public const int MaxLineBytes = 1 << 20;

    /// <summary>The lines of text already in memory.</summary>
    public static IEnumerable<SourceLine> FromText(string path, string text, DiagnosticBag diagnostics, Status status)
    {
        int number = 0;
        int start = 0;
        long byteOffset = 0;
        while (start <= text.Length)
        {
            int end = text.IndexOf('\n', start);
            bool last = end < 0;
            if (last && start == text.Length) yield break;
            string line = text.Substring(start, (last ? text.Length : end) - start);
            number++;
            int nul = line.IndexOf('\0');
            if (nul >= 0)
            {
                diagnostics.Report(new SourceLocation(path, number, nul + 1),
                    Messages.BinaryNul(byteOffset + Encoding.UTF8.GetByteCount(line.AsSpan(0, nul))));
                status.StoppedAtBinary = true;
                yield break;
            }
            int byteLength = Encoding.UTF8.GetByteCount(line);
            if (byteLength > MaxLineBytes)
                diagnostics.Report(new SourceLocation(path, number, 1), Messages.LineTooLong(MaxLineBytes));
            else
                yield return new SourceLine(number, line);
            if (last) yield break;
            byteOffset += byteLength + 1;
            start = end + 1;
        }
    }

    /// <summary>The lines of a file, read as a stream of bytes (a 100 MB file is never held whole).</summary>
    public static IEnumerable<SourceLine> FromFile(string path, DiagnosticBag diagnostics, Status status)
    {
        Stream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            diagnostics.Report(new SourceLocation(path, 0, 0), Messages.CannotRead(e.Message));
            yield break;
        }
        using (stream)
        {
            foreach (var line in FromStream(path, stream, diagnostics, status)) yield return line;
        }
    }

    public static IEnumerable<SourceLine> FromStream(string path, Stream stream, DiagnosticBag diagnostics, Status status)
    {
        var buffer = new byte[1 << 16];
        var line = new ArrayBufferWriter<byte>(256);
        long lineStartOffset = 0;
        long offset = 0;
        int number = 0;
        bool tooLong = false;
        while (true)
        {
            int read;
            try { read = stream.Read(buffer, 0, buffer.Length); }
            catch (IOException e)
            {
                diagnostics.Report(new SourceLocation(path, number + 1, 0), Messages.CannotRead(e.Message));
                yield break;
            }
            if (read == 0) break;
            int pos = 0;
            while (pos < read)
            {
                int nl = Array.IndexOf(buffer, (byte)'\n', pos, read - pos);
                int chunkEnd = nl < 0 ? read : nl;
                if (!tooLong)
                {
                    if (line.WrittenCount + (chunkEnd - pos) > MaxLineBytes) { tooLong = true; line.Clear(); }
                    else line.Write(buffer.AsSpan(pos, chunkEnd - pos));
                }
                offset += chunkEnd - pos;
                pos = chunkEnd;
                if (nl < 0) break;
                number++;
                if (!Emit(path, number, line, lineStartOffset, tooLong, diagnostics, out var text)) { status.StoppedAtBinary = true; yield break; }
                if (text is not null) yield return new SourceLine(number, text);
                line.Clear();
                tooLong = false;
                pos++;
                offset++;
                lineStartOffset = offset;
            }
        }
        if (line.WrittenCount > 0 || tooLong)
        {
            number++;
            if (!Emit(path, number, line, lineStartOffset, tooLong, diagnostics, out var text)) { status.StoppedAtBinary = true; yield break; }
            if (text is not null) yield return new SourceLine(number, text);
        }
    }

    /// <summary>Decodes one line; false when the input is binary (reported) and reading must stop.</summary>
    private static bool Emit(string path, int number, ArrayBufferWriter<byte> line, long lineStart, bool tooLong,
        DiagnosticBag diagnostics, out string? text)
    {
        text = null;
        if (tooLong)
        {
            diagnostics.Report(new SourceLocation(path, number, 1), Messages.LineTooLong(MaxLineBytes));
            return true;
        }
        var bytes = line.WrittenSpan;
        int nul = bytes.IndexOf((byte)0);
        if (nul >= 0)
        {
            diagnostics.Report(new SourceLocation(path, number, nul + 1), Messages.BinaryNul(lineStart + nul));
            return false;
        }
        var chars = new char[bytes.Length];
        var status = Utf8.ToUtf16(bytes, chars, out int bytesRead, out int charsWritten, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
        {
            diagnostics.Report(new SourceLocation(path, number, bytesRead + 1), Messages.BinaryUtf8(lineStart + bytesRead));
            return false;
        }
        text = new string(chars, 0, charsWritten);
        return true;
    }
}
