namespace Harness.Rules;

/// <summary>A problem in a ruleset, reported like a compiler: "file:line:column: error: message".</summary>
public sealed record Diagnostic(SourceLocation Location, string Message)
{
    public override string ToString() => $"{Location}: error: {Message}";
}

/// <summary>Thrown while parsing one rule or command; the loader turns it into a <see cref="Diagnostic"/>.</summary>
public sealed class RuleSyntaxException(string message, int column = 0) : Exception(message)
{
    /// <summary>1-based column in the source line, or 0 when unknown (the loader then uses the token being read).</summary>
    public int Column { get; } = column;
}
