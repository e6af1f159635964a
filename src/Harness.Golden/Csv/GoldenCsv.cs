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
        if (utf8.Length == 0) throw new CaseFormatException(file, 1, 1, "empty golden file (expected the header row " + string.Join(",", GoldenRow.Columns) + ")");
        var rows = ImmutableArray.CreateBuilder<GoldenRow>();
        var pool = new StringPool();
        try
        {
            using var csv = CsvReader.Create(utf8, ReaderOptions);
            csv.ReadHeader();
            var header = csv.Headers.ToArray();
            if (!header.SequenceEqual(GoldenRow.Columns, StringComparer.Ordinal))
                throw new CaseFormatException(file, 1, 1,
                    $"wrong golden header: expected '{string.Join(",", GoldenRow.Columns)}', found '{string.Join(",", header)}'");
            while (csv.Read())
            {
                var fields = new string[GoldenRow.Columns.Length];
                for (int i = 0; i < fields.Length; i++) fields[i] = i < 2 ? csv.GetString(i) : pool.Intern(csv.GetString(i));
                rows.Add(new GoldenRow(ImmutableCollectionsMarshal.AsImmutableArray(fields)));
            }
        }
        catch (CsvFormatException e)
        {
            throw new CaseFormatException(file, e.LineNumber > 0 ? (int)e.LineNumber : null, null, "malformed golden row: " + FirstLine(e.Message));
        }
        return rows.ToImmutable();
    }

    private static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }
}
