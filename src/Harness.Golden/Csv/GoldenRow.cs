using System.Collections.Immutable;

namespace Harness.Golden.Csv;

/// <summary>
/// One row of a golden CSV: the projection of one <see cref="Harness.Engine.Outcome"/>. Every field is text exactly as
/// written to the file, so comparing rows is comparing what a reviewer reads.
/// </summary>
public sealed record GoldenRow(ImmutableArray<string> Fields)
{
    /// <summary>The columns, in file order (issue 6 plus <c>reason</c>: why the stack, not a rule, dropped it).</summary>
    public static readonly ImmutableArray<string> Columns =
    [
        "packet", "time", "in", "out", "proto", "src", "sport", "dst", "dport",
        "verdict", "rule", "ct", "ct_tcp", "nat", "path", "log", "reason",
    ];

    public const int PathColumn = 14;

    /// <summary>The row's key: the packet number, with "rN" for the N-th packet the engine generated in reply (REJECT).</summary>
    public string Packet => Fields[0];

    public string Path => Fields[PathColumn];

    public string this[int column] => Fields[column];

    /// <summary>A row of these fields (the row keeps the array: do not change it afterwards).</summary>
    public static GoldenRow Of(params string[] fields)
    {
        if (fields.Length != Columns.Length)
            throw new ArgumentException($"a golden row has {Columns.Length} fields, got {fields.Length}", nameof(fields));
        return new GoldenRow(System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray(fields));
    }

    public bool Equals(GoldenRow? other) => other is not null && Fields.SequenceEqual(other.Fields, StringComparer.Ordinal);

    public override string ToString() => string.Join(",", Fields);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var f in Fields) h.Add(f, StringComparer.Ordinal);
        return h.ToHashCode();
    }
}
