using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Globalization;
using System.Text;
using CsvHelper;
using Harness.Golden.Cases;

namespace Harness.Golden.Csv;

/// <summary>Reads and writes golden CSV files: header row, <see cref="GoldenRow.Columns"/> order, UTF-8 without BOM, "\n".</summary>
public static class GoldenCsv
{
    private static readonly CsvWriterOptions WriterOptions = new()
    {
        NewLine = "\n",
        Separator = ',',
        WriteByteOrderMark = false,
        Injection = CsvInjection.None,
        ValidateFieldCount = true,
    };

    private static readonly CsvReaderOptions ReaderOptions = new()
    {
        Separator = ',',
        HasHeader = true,
        FieldCountMismatch = CsvFieldCountHandling.Throw,
        MalformedData = CsvMalformedDataHandling.Throw,
        TrackLineNumbers = true,
        SkipEmptyLines = false,
    };

    public static string ToText(IEnumerable<GoldenRow> rows) => Encoding.UTF8.GetString(ToBytes(rows));

    public static void Write(TextWriter output, IEnumerable<GoldenRow> rows) => output.Write(ToText(rows));

    /// <summary>UTF-8 bytes (no BOM) of the CSV text.</summary>
    public static byte[] ToBytes(IEnumerable<GoldenRow> rows)
    {
        using var stream = new MemoryStream();
        using (var csv = CsvWriter.Create(stream, WriterOptions, leaveOpen: true))
        {
            csv.WriteHeader(GoldenRow.Columns.AsSpan());
            foreach (var row in rows) csv.WriteRecord(row.Fields.AsSpan());
        }
        return stream.ToArray();
    }

    /// <summary>Writes atomically: a temporary file beside the target, then a rename over it.</summary>
    public static void WriteFileAtomically(string path, IEnumerable<GoldenRow> rows)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        try
        {
            File.WriteAllBytes(temp, ToBytes(rows));
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    public static ImmutableArray<GoldenRow> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new CaseFormatException(path, null, null, "no such golden file");
        byte[] bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw new CaseFormatException(path, null, null, $"golden is not UTF-8 text (invalid byte at offset {FirstInvalidUtf8(bytes)})");
        return Parse(bytes, path);
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int at = 0;
        while (at < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[at..], out _, out int used) != System.Buffers.OperationStatus.Done) return at;
            at += used;
        }
        return at;
    }

    /// <summary>Parses golden text; the header must be exactly <see cref="GoldenRow.Columns"/>.</summary>
    public static ImmutableArray<GoldenRow> Parse(string text, string file) => Parse(Encoding.UTF8.GetBytes(text), file);

    /// <summary>
    /// Parses golden text given as UTF-8. Cells that repeat from row to row (interfaces, verdicts, rules, states, paths)
    /// share one string, so a large golden costs little more than its distinct values.
    /// </summary>
    private static ImmutableArray<GoldenRow> Parse(byte[] utf8, string file)
    {
        if (utf8.Length == 0) throw EmptyGolden(file);
        using var csv = CsvReader.Create(utf8, ReaderOptions);
        return [.. Rows(csv, file).Select(r => r.Row)];
    }

    /// <summary>
    /// The rows of a golden file read as they are needed, each with its line, for a check that does not hold the whole
    /// golden: the file's encoding and header are checked now (bad input before any replay), the rows when enumerated.
    /// </summary>
    public static IEnumerable<(GoldenRow Row, long Line)> OpenRows(string path)
    {
        if (!File.Exists(path)) throw new CaseFormatException(path, null, null, "no such golden file");
        if (FirstInvalidUtf8(path) is long offset)
            throw new CaseFormatException(path, null, null, $"golden is not UTF-8 text (invalid byte at offset {offset})");
        if (new FileInfo(path).Length == 0) throw EmptyGolden(path);
        using (var stream = File.OpenRead(path))
        using (var csv = CsvReader.Create(stream, ReaderOptions))
            ReadHeader(csv, path);
        return ReadRowsOf(path);
    }

    private static IEnumerable<(GoldenRow Row, long Line)> ReadRowsOf(string path)
    {
        using var stream = File.OpenRead(path);
        using var csv = CsvReader.Create(stream, ReaderOptions);
        foreach (var row in Rows(csv, path)) yield return row;
    }

    /// <summary>The header, then every row with its line; repeated cells share one string.</summary>
    private static IEnumerable<(GoldenRow Row, long Line)> Rows(CsvReader csv, string file)
    {
        var pool = new StringPool();
        Translated(() => ReadHeader(csv, file), file);
        while (Translated(csv.Read, file))
        {
            var fields = new string[GoldenRow.Columns.Length];
            for (int i = 0; i < fields.Length; i++) fields[i] = i < 2 ? csv.GetString(i) : pool.Intern(csv.GetString(i));
            yield return (new GoldenRow(ImmutableCollectionsMarshal.AsImmutableArray(fields)), csv.LineNumber);
        }
    }

    private static void ReadHeader(CsvReader csv, string file)
    {
        csv.ReadHeader();
        var header = csv.Headers.ToArray();
        if (!header.SequenceEqual(GoldenRow.Columns, StringComparer.Ordinal))
            throw new CaseFormatException(file, 1, 1,
                $"wrong golden header: expected '{string.Join(",", GoldenRow.Columns)}', found '{string.Join(",", header)}'");
    }

    private static bool Translated(Func<bool> read, string file)
    {
        try
        {
            return read();
        }
        catch (CsvFormatException e)
        {
            throw new CaseFormatException(file, e.LineNumber > 0 ? (int)e.LineNumber : null, null, "malformed golden row: " + FirstLine(e.Message));
        }
    }

    private static void Translated(Action read, string file) => Translated(() => { read(); return true; }, file);

    private static CaseFormatException EmptyGolden(string file) =>
        new(file, 1, 1, "empty golden file (expected the header row " + string.Join(",", GoldenRow.Columns) + ")");

    /// <summary>The offset of the first byte of <paramref name="path"/> that is not UTF-8, read a block at a time; null when all are.</summary>
    private static long? FirstInvalidUtf8(string path)
    {
        using var stream = File.OpenRead(path);
        var bytes = new byte[1 << 20];
        var chars = new char[bytes.Length];
        long consumed = 0;
        int kept = 0;
        while (true)
        {
            int read = stream.Read(bytes, kept, bytes.Length - kept);
            int have = kept + read;
            bool final = read == 0;
            var status = System.Text.Unicode.Utf8.ToUtf16(bytes.AsSpan(0, have), chars, out int used, out _, replaceInvalidSequences: false, isFinalBlock: final);
            if (status == System.Buffers.OperationStatus.InvalidData) return consumed + used;
            if (final) return null;
            // a sequence cut at the block's end is kept for the next block
            kept = have - used;
            Array.Copy(bytes, used, bytes, 0, kept);
            consumed += used;
        }
    }

    /// <summary>
    /// A golden written row by row into a temporary file beside <paramref name="path"/>; <see cref="AtomicGoldenWriter.Commit"/>
    /// renames it over the golden, disposing without committing deletes it (the golden is untouched).
    /// </summary>
    public static AtomicGoldenWriter BeginAtomicWrite(string path) => new(path, WriterOptions);

    private static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }
}

/// <summary>See <see cref="GoldenCsv.BeginAtomicWrite"/>.</summary>
public sealed class AtomicGoldenWriter : IDisposable
{
    private readonly string _target;
    private readonly string _temp;
    private readonly FileStream _stream;
    private readonly CsvWriter _csv;
    private bool _closed;

    internal AtomicGoldenWriter(string path, CsvWriterOptions options)
    {
        _target = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(_target)!;
        Directory.CreateDirectory(directory);
        _temp = Path.Combine(directory, "." + Path.GetFileName(_target) + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        _stream = new FileStream(_temp, FileMode.Create, FileAccess.Write);
        _csv = CsvWriter.Create(_stream, options, leaveOpen: true);
        _csv.WriteHeader(GoldenRow.Columns.AsSpan());
    }

    public void Write(GoldenRow row) => _csv.WriteRecord(row.Fields.AsSpan());

    /// <summary>Finishes the file and renames it over the golden.</summary>
    public void Commit()
    {
        Close();
        File.Move(_temp, _target, overwrite: true);
    }

    public void Dispose()
    {
        Close();
        if (File.Exists(_temp)) File.Delete(_temp);
    }

    private void Close()
    {
        if (_closed) return;
        _closed = true;
        _csv.Dispose();
        _stream.Dispose();
    }
}
