namespace Harness.Packets;

/// <summary>
/// A forward-only view of a capture file that tracks the byte offset. It reads the file in large chunks into one
/// buffer and hands out records as spans of it (no copy); a span is valid until the next <see cref="Read"/>.
/// </summary>
internal sealed class CaptureStream(Stream stream, string path) : IDisposable
{
    private byte[] buffer = new byte[1 << 20];
    private int start, end;            // unread bytes: buffer[start..end]
    private int lastStart, lastCount;  // the bytes of the last Read
    private bool endOfFile;

    public string Path { get; } = path;

    /// <summary>Byte offset in the file of the next unread byte.</summary>
    public long Offset { get; private set; }

    /// <summary>Reads up to <paramref name="count"/> bytes; returns how many were read (fewer only at end of file).</summary>
    public int Read(int count)
    {
        if (end - start < count && !endOfFile) Fill(count);
        int got = Math.Min(count, end - start);
        (lastStart, lastCount) = (start, got);
        start += got;
        Offset += got;
        return got;
    }

    /// <summary>Pushes the last read's first <paramref name="count"/> bytes back, to be read again.</summary>
    public void Unread(int count)
    {
        start = lastStart;
        Offset -= lastCount;
        int skip = lastCount - count;
        start += skip;
        Offset += skip;
    }

    /// <summary>The first <paramref name="count"/> bytes of the last <see cref="Read"/>.</summary>
    public Span<byte> Bytes(int count) => buffer.AsSpan(lastStart, Math.Min(count, lastCount));

    /// <summary>Moves the unread bytes to the front, grows the buffer to hold <paramref name="count"/>, and reads until it does or the file ends.</summary>
    private void Fill(int count)
    {
        int unread = end - start;
        if (count > buffer.Length)
        {
            var larger = new byte[Math.Max(count, buffer.Length * 2)];
            buffer.AsSpan(start, unread).CopyTo(larger);
            buffer = larger;
        }
        else if (start > 0)
        {
            buffer.AsSpan(start, unread).CopyTo(buffer);
        }
        (start, end) = (0, unread);
        while (end < count)
        {
            int got = stream.Read(buffer, end, buffer.Length - end);
            if (got == 0) { endOfFile = true; break; }
            end += got;
        }
    }

    public CaptureFormatException Error(long offset, string detail) => new(Path, offset, detail);

    public void Dispose() => stream.Dispose();
}
