using System.Globalization;
using Harness.Rules.Parsing;

namespace Harness.Rules.Loading;

/// <summary>
/// Reads the words of one iptables command (after the program name) the way iptables' getopt loop does: command
/// options and their arguments may appear anywhere; every other word belongs to the rule specification.
/// </summary>
internal static class CommandParser
{
    private static readonly Dictionary<string, CommandKind> Commands = new(StringComparer.Ordinal)
    {
        ["-A"] = CommandKind.Append, ["--append"] = CommandKind.Append,
        ["-I"] = CommandKind.Insert, ["--insert"] = CommandKind.Insert,
        ["-R"] = CommandKind.Replace, ["--replace"] = CommandKind.Replace,
        ["-D"] = CommandKind.Delete, ["--delete"] = CommandKind.Delete,
        ["-N"] = CommandKind.NewChain, ["--new-chain"] = CommandKind.NewChain,
        ["-X"] = CommandKind.DeleteChain, ["--delete-chain"] = CommandKind.DeleteChain,
        ["-F"] = CommandKind.Flush, ["--flush"] = CommandKind.Flush,
        ["-Z"] = CommandKind.Zero, ["--zero"] = CommandKind.Zero,
        ["-P"] = CommandKind.Policy, ["--policy"] = CommandKind.Policy,
        ["-E"] = CommandKind.Rename, ["--rename-chain"] = CommandKind.Rename,
    };

    /// <summary>Commands iptables has that only read state or need a kernel: refused by name.</summary>
    private static readonly HashSet<string> OtherCommands = new(StringComparer.Ordinal)
    {
        "-L", "--list", "-S", "--list-rules", "-C", "--check", "-h", "--help", "-V", "--version",
        "--line-numbers", "-n", "--numeric", "-v", "--verbose", "-x", "--exact", "-4", "--ipv4", "-6", "--ipv6",
        "--modprobe",
    };

    public static string ShortName(CommandKind kind) => kind switch
    {
        CommandKind.Append => "-A",
        CommandKind.Insert => "-I",
        CommandKind.Replace => "-R",
        CommandKind.Delete => "-D",
        CommandKind.NewChain => "-N",
        CommandKind.DeleteChain => "-X",
        CommandKind.Flush => "-F",
        CommandKind.Zero => "-Z",
        CommandKind.Policy => "-P",
        _ => "-E",
    };

    /// <summary>
    /// Parses a command. <paramref name="restoreTable"/>: inside an iptables-restore table block (the table is fixed
    /// and "-t" is refused); null for a command line, whose table is "filter" unless "-t" says otherwise.
    /// </summary>
    public static Command Parse(IReadOnlyList<Token> input, string? restoreTable)
    {
        var words = SplitLongOptionValues(input);
        CommandKind? kind = null;
        Token? commandToken = null;
        Token? chain = null;
        Token? argument = null;
        int? number = null;
        string table = restoreTable ?? TableNames.Filter;
        Counters? counters = null;
        var spec = new List<Token>();

        for (int i = 0; i < words.Count; i++)
        {
            var word = words[i];
            var text = word.WasQuoted ? "" : word.Text;
            if (Commands.TryGetValue(text, out var k))
            {
                if (kind is not null) throw new RuleSyntaxException(Messages.TwoCommands(ShortName(k), ShortName(kind.Value)), word.Column);
                kind = k;
                commandToken = word;
                ReadCommandArguments(k, word, words, ref i, ref chain, ref number, ref argument);
            }
            else if (text is "-t" or "--table")
            {
                if (restoreTable is not null) throw new RuleSyntaxException(Messages.TableOptionInRestore, word.Column);
                var name = RequireValue(words, ref i, word);
                if (!TableNames.IsKnown(name.Text)) throw new RuleSyntaxException(Messages.TableNotExist(name.Text), name.Column);
                table = name.Text;
            }
            else if (text is "-w" or "--wait")
            {
                if (i + 1 < words.Count && IsUnsigned(words[i + 1].Text)) i++;
            }
            else if (text is "-W" or "--wait-interval")
            {
                RequireValue(words, ref i, word);
            }
            else if (text is "-c" or "--set-counters")
            {
                var packets = RequireValue(words, ref i, word);
                var bytes = RequireValue(words, ref i, word);
                counters = new Counters(ParseCounter(packets), ParseCounter(bytes));
            }
            else if (OtherCommands.Contains(text) || IsBundledShortOptions(text))
            {
                throw new RuleSyntaxException(Messages.UnsupportedCommand(word.Text), word.Column);
            }
            else
            {
                spec.Add(word);
            }
        }
        if (kind is null || commandToken is null)
            throw new RuleSyntaxException(Messages.NoCommand, words.Count > 0 ? words[0].Column : 1);
        var command = new Command(kind.Value, commandToken, table, chain, number, argument, spec, counters);
        CheckShape(command);
        return command;
    }

    private static readonly HashSet<string> LongCommandOptions = new(StringComparer.Ordinal)
    {
        "--append", "--insert", "--replace", "--delete", "--new-chain", "--delete-chain", "--flush", "--zero", "--policy",
        "--rename-chain", "--table", "--wait", "--wait-interval",
    };

    /// <summary>getopt_long's "--table=nat": the value becomes a word of its own (rule options are split by the rule parser).</summary>
    private static List<Token> SplitLongOptionValues(IReadOnlyList<Token> words)
    {
        var result = new List<Token>(words.Count);
        foreach (var word in words)
        {
            int eq = word.WasQuoted ? -1 : word.Text.IndexOf('=');
            if (eq > 2 && LongCommandOptions.Contains(word.Text[..eq]))
            {
                result.Add(new Token(word.Text[..eq], word.Column));
                result.Add(new Token(word.Text[(eq + 1)..], word.Column + eq + 1));
            }
            else result.Add(word);
        }
        return result;
    }

    private static void ReadCommandArguments(CommandKind kind, Token option, IReadOnlyList<Token> words, ref int i,
        ref Token? chain, ref int? number, ref Token? argument)
    {
        switch (kind)
        {
            case CommandKind.Append:
            case CommandKind.NewChain:
                chain = RequireValue(words, ref i, option);
                break;
            case CommandKind.Insert:
            case CommandKind.Delete:
            case CommandKind.Replace:
                chain = RequireValue(words, ref i, option);
                if (i + 1 < words.Count && !words[i + 1].LooksLikeOption && words[i + 1].Text != "!")
                {
                    var n = words[++i];
                    number = ParseRuleNumber(n);
                }
                else if (kind == CommandKind.Replace)
                {
                    throw new RuleSyntaxException(Messages.ReplaceNeedsNumber, option.Column);
                }
                break;
            case CommandKind.DeleteChain:
            case CommandKind.Flush:
                chain = OptionalValue(words, ref i);
                break;
            case CommandKind.Zero:
                chain = OptionalValue(words, ref i);
                if (chain is not null && i + 1 < words.Count && !words[i + 1].LooksLikeOption)
                    number = ParseRuleNumber(words[++i]);
                break;
            case CommandKind.Policy:
                chain = OptionalValue(words, ref i);
                argument = OptionalValue(words, ref i);
                if (argument is null) throw new RuleSyntaxException(Messages.PolicyNeedsTwo, option.Column);
                break;
            case CommandKind.Rename:
                chain = OptionalValue(words, ref i);
                argument = OptionalValue(words, ref i);
                if (argument is null) throw new RuleSyntaxException(Messages.RenameNeedsTwo, option.Column);
                break;
        }
    }

    /// <summary>Commands without a rule specification refuse extra words the way iptables does.</summary>
    private static void CheckShape(Command command)
    {
        if (command.TakesRuleSpec || command.SpecWords.Count == 0) return;
        var first = command.SpecWords[0];
        if (first.LooksLikeOption || first.Text == "!")
            throw new RuleSyntaxException(Messages.IllegalOption(first.Text), first.Column);
        throw new RuleSyntaxException(Messages.BadArgument(first.Text), first.Column);
    }

    private static int ParseRuleNumber(Token token)
    {
        if (int.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1) return n;
        throw new RuleSyntaxException(Messages.InvalidRuleNumber(token.Text), token.Column);
    }

    private static ulong ParseCounter(Token token) =>
        ulong.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new RuleSyntaxException(Messages.BadCounterValue(token.Text), token.Column);

    private static Token RequireValue(IReadOnlyList<Token> words, ref int i, Token option)
    {
        if (i + 1 >= words.Count || (words[i + 1].LooksLikeOption))
            throw new RuleSyntaxException(Messages.OptionRequiresArgument(option.Text), option.Column);
        return words[++i];
    }

    private static Token? OptionalValue(IReadOnlyList<Token> words, ref int i)
    {
        if (i + 1 >= words.Count || words[i + 1].LooksLikeOption || words[i + 1].Text == "!") return null;
        return words[++i];
    }

    private static bool IsUnsigned(string text) => text.Length > 0 && text.All(char.IsAsciiDigit);

    /// <summary>"-nvL" and similar bundles of short options: iptables reads them, we name them as unsupported.</summary>
    private static bool IsBundledShortOptions(string text) =>
        text.Length > 2 && text[0] == '-' && text[1] != '-' && text.Skip(1).All(char.IsAsciiLetter)
        && text.Skip(1).Any(c => c is 'L' or 'S' or 'C' or 'n' or 'v' or 'x');
}
