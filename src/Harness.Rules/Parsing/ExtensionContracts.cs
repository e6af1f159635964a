using System.Collections.Immutable;
using Harness.Net;

namespace Harness.Rules.Parsing;

/// <summary>What an extension may look at while it checks a rule: the family, where the rule sits, and its -p.</summary>
public sealed record RuleContext(Family Family, string Table, string Chain, Negatable<byte>? Protocol);

/// <summary>
/// The arguments that follow one option on the command line. Reading past the end, or reading an option
/// ("--x") where a value was expected, throws a <see cref="RuleSyntaxException"/> naming what was expected.
/// </summary>
public sealed class OptionArguments
{
    private readonly IReadOnlyList<Token> _tokens;
    private int _index;

    public OptionArguments(IReadOnlyList<Token> tokens, int index, string option)
    {
        _tokens = tokens;
        _index = index;
        Option = option;
    }

    /// <summary>The option being parsed, as written (e.g. "--dport").</summary>
    public string Option { get; }

    /// <summary>Index of the next unread token; the parser continues from here after the extension returns.</summary>
    public int Index => _index;

    /// <summary>True when a value (a token that is not an option and not "!") follows.</summary>
    public bool HasValue => _index < _tokens.Count && !_tokens[_index].LooksLikeOption && _tokens[_index].Text != "!";

    /// <summary>The next token, or null at the end.</summary>
    public Token? Peek => _index < _tokens.Count ? _tokens[_index] : null;

    /// <summary>Reads one value; "what" names it in the error ("port", "address", …).</summary>
    public string Next(string what)
    {
        if (_index >= _tokens.Count)
            throw new RuleSyntaxException($"option \"{Option}\" requires an argument ({what})", ColumnAtEnd);
        var t = _tokens[_index];
        _index++;
        return t.Text;
    }

    /// <summary>Column of the next token (for errors about a value that was just read, use <see cref="LastColumn"/>).</summary>
    public int Column => _index < _tokens.Count ? _tokens[_index].Column : ColumnAtEnd;

    /// <summary>Column of the token read last.</summary>
    public int LastColumn => _index > 0 ? _tokens[_index - 1].Column : 1;

    private int ColumnAtEnd => _tokens.Count == 0 ? 1 : _tokens[^1].Column + _tokens[^1].Text.Length;

    /// <summary>Throws a syntax error pointing at the value read last.</summary>
    public RuleSyntaxException Error(string message) => new(message, LastColumn);
}

/// <summary>One shell word of a rule or command line with its 1-based column (quotes already removed).</summary>
public sealed record Token(string Text, int Column, bool WasQuoted = false)
{
    public bool LooksLikeOption => !WasQuoted && Text.Length > 1 && Text[0] == '-' && !char.IsAsciiDigit(Text[1]);
}

/// <summary>Parses the options of one "-m NAME" in one rule. A new instance per use.</summary>
public interface IMatchParser
{
    /// <summary>Long option names this extension owns, without the leading dashes ("dport", "destination-port", …).</summary>
    IReadOnlyCollection<string> Options { get; }

    /// <summary>Reads one option and its arguments. <paramref name="inverted"/>: a "!" came before it.</summary>
    void Parse(string option, bool inverted, OptionArguments args);

    /// <summary>After the whole rule has been read: required options, protocol checks, then the immutable record.</summary>
    MatchExtension Finish(RuleContext context);
}

/// <summary>Parses the options of one "-j NAME" in one rule. A new instance per use.</summary>
public interface ITargetParser
{
    IReadOnlyCollection<string> Options { get; }

    void Parse(string option, bool inverted, OptionArguments args);

    TargetExtension Finish(RuleContext context);
}

/// <summary>
/// A match extension's registration: its name, the family it exists for (null: both), and the kernel's
/// load-time restrictions (<see cref="Tables"/>, <see cref="Hooks"/>: empty means any).
/// </summary>
public sealed record MatchDefinition(
    string Name,
    Func<IMatchParser> Create,
    Family? Family = null,
    ImmutableArray<string> Tables = default,
    ImmutableArray<string> Hooks = default)
{
    public ImmutableArray<string> Aliases { get; init; } = ImmutableArray<string>.Empty;
}

/// <summary>A target extension's registration; Tables/Hooks are the kernel's checkentry limits (e.g. DNAT: nat, PREROUTING+OUTPUT).</summary>
public sealed record TargetDefinition(
    string Name,
    Func<ITargetParser> Create,
    Family? Family = null,
    ImmutableArray<string> Tables = default,
    ImmutableArray<string> Hooks = default)
{
    public ImmutableArray<string> Aliases { get; init; } = ImmutableArray<string>.Empty;
}
