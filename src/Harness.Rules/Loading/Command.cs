using Harness.Rules.Parsing;

namespace Harness.Rules.Loading;

/// <summary>The iptables commands that change a ruleset.</summary>
internal enum CommandKind
{
    Append,
    Insert,
    Replace,
    Delete,
    NewChain,
    DeleteChain,
    Flush,
    Zero,
    Policy,
    Rename,
}

/// <summary>
/// One iptables command line, split into the command, its table and chain arguments, and the words of the rule
/// specification (everything that is not a command option), which the rule parser reads.
/// </summary>
internal sealed record Command(
    CommandKind Kind,
    Token CommandToken,
    string Table,
    Token? Chain,
    int? RuleNumber,
    Token? Argument,
    IReadOnlyList<Token> SpecWords,
    Counters? Counters)
{
    public bool TakesRuleSpec => Kind is CommandKind.Append or CommandKind.Insert or CommandKind.Replace
        || (Kind == CommandKind.Delete && RuleNumber is null);

    /// <summary>The short option iptables uses in its messages ("-A").</summary>
    public string ShortName => CommandParser.ShortName(Kind);
}
