using System.Collections.Immutable;

namespace Harness.Rules.Loading;

/// <summary>Collects the errors of one load in order, keeping the first <see cref="Limit"/> and counting the rest.</summary>
internal sealed class DiagnosticBag(int limit = DiagnosticBag.DefaultLimit)
{
    public const int DefaultLimit = 100;

    private readonly List<Diagnostic> _kept = [];
    private SourceLocation? _lastLocation;

    public int Limit { get; } = limit;

    public int Count { get; private set; }

    public void Report(SourceLocation location, string message)
    {
        Count++;
        _lastLocation = location;
        if (_kept.Count < Limit) _kept.Add(new Diagnostic(location, message));
    }

    public ImmutableArray<Diagnostic> ToImmutable()
    {
        if (Count <= _kept.Count) return [.. _kept];
        var more = new Diagnostic(_lastLocation! with { Line = _lastLocation.Line, Column = _lastLocation.Column },
            Messages.TooManyErrors(Count - _kept.Count));
        return [.. _kept, more];
    }
}
