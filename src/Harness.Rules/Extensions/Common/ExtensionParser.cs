using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>
/// The option table of one extension in one rule, the way libxtables' xt_option_entry table works: each option has
/// its long names, whether "!" may precede it, whether it may be repeated; the handler reads its arguments.
/// </summary>
public abstract class ExtensionParser
{
    private sealed record OptionSpec(string Name, bool Invertible, bool Repeatable, Action<bool, OptionArguments> Handle);

    private readonly Dictionary<string, OptionSpec> _byName = new(StringComparer.Ordinal);
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    /// <summary>The extension's name as iptables names it in messages ("tcp", "DNAT", …).</summary>
    protected abstract string ExtensionName { get; }

    public IReadOnlyCollection<string> Options => _byName.Keys;

    /// <summary>The first name of the option that <paramref name="name"/> (an alias or the name itself) stands for.</summary>
    public string CanonicalOptionName(string name) => _byName[name].Name;

    /// <summary>Declares an option taking arguments; <paramref name="aliases"/> are further long names of the same option.</summary>
    protected void On(string name, Action<bool, OptionArguments> handle, bool invert = false, bool repeat = false, params string[] aliases)
    {
        var spec = new OptionSpec(name, invert, repeat, handle);
        _byName.Add(name, spec);
        foreach (var alias in aliases) _byName.Add(alias, spec);
    }

    /// <summary>Declares an option without arguments.</summary>
    protected void Flag(string name, Action<bool> set, bool invert = false, params string[] aliases) =>
        On(name, (inverted, _) => set(inverted), invert, false, aliases);

    public void Parse(string option, bool inverted, OptionArguments args)
    {
        var spec = _byName[option];
        if (!spec.Repeatable && !_seen.Add(spec.Name))
            throw new RuleSyntaxException($"{ExtensionName}: option \"--{spec.Name}\" can only be used once.", args.LastColumn);
        _seen.Add(spec.Name);
        if (inverted && !spec.Invertible)
            throw new RuleSyntaxException($"{ExtensionName}: option \"--{spec.Name}\" cannot be inverted.", args.LastColumn);
        spec.Handle(inverted, args);
    }

    /// <summary>True when the option (by its first name) was given.</summary>
    protected bool Given(string name) => _seen.Contains(name);

    /// <summary>An error about the whole extension (the rule parser points it at the "-m"/"-j" word).</summary>
    protected RuleSyntaxException Error(string message) => new(message);

    /// <summary>Fails unless one of the options was given ("X: option --a or --b must be specified").</summary>
    protected void Require(params string[] names)
    {
        if (names.Any(Given)) return;
        var list = string.Join(" or ", names.Select(n => "\"--" + n + "\""));
        throw Error($"{ExtensionName}: option {list} must be specified");
    }

    /// <summary>Fails when two options that exclude each other were both given.</summary>
    protected void Exclusive(params string[] names)
    {
        var given = names.Where(Given).ToList();
        if (given.Count > 1)
            throw Error($"{ExtensionName}: \"--{given[0]}\" and \"--{given[1]}\" cannot be used together");
    }
}

/// <summary>Base of every match parser.</summary>
public abstract class MatchParser : ExtensionParser, IMatchParser
{
    public abstract MatchExtension Finish(RuleContext context);
}

/// <summary>Base of every target parser.</summary>
public abstract class TargetParser : ExtensionParser, ITargetParser
{
    public abstract TargetExtension Finish(RuleContext context);
}
