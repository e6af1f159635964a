using System.Globalization;

namespace Harness.Rules;

/// <summary>Where something was written: file, 1-based line and 1-based column.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public static readonly SourceLocation None = new("<none>", 0, 0);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}");
}
