using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>How -m ttl / -m hl compares.</summary>
public enum TtlComparison
{
    Equal,
    NotEqual,
    LessThan,
    GreaterThan,
}

/// <summary>-m ttl (IPv4): --ttl-eq / ! --ttl-eq / --ttl-lt / --ttl-gt.</summary>
public sealed record TtlMatch(TtlComparison Comparison, byte Value) : MatchExtension
{
    public override string Name => "ttl";

    protected override void SaveOptions(SaveWriter w) => TtlSave.Write(w, "ttl", Comparison, Value);
}

internal static class TtlSave
{
    public static void Write(SaveWriter w, string prefix, TtlComparison comparison, byte value)
    {
        switch (comparison)
        {
            case TtlComparison.Equal: w.Option($"--{prefix}-eq", Values.Dec(value)); break;
            case TtlComparison.NotEqual: w.Option($"--{prefix}-eq", Values.Dec(value), negated: true); break;
            case TtlComparison.LessThan: w.Option($"--{prefix}-lt", Values.Dec(value)); break;
            default: w.Option($"--{prefix}-gt", Values.Dec(value)); break;
        }
    }
}

/// <summary>Shared by ttl and hl: exactly one of -eq (negatable), -lt, -gt.</summary>
public sealed class TtlLikeParser : MatchParser
{
    private readonly string _prefix;
    private readonly Func<TtlComparison, byte, MatchExtension> _build;
    private (TtlComparison, byte)? _test;

    protected override string ExtensionName => _prefix;

    public TtlLikeParser(string prefix, Func<TtlComparison, byte, MatchExtension> build)
    {
        _prefix = prefix;
        _build = build;
        On($"{prefix}-eq", (inv, a) => Set(inv ? TtlComparison.NotEqual : TtlComparison.Equal, a), invert: true);
        On($"{prefix}-lt", (_, a) => Set(TtlComparison.LessThan, a));
        On($"{prefix}-gt", (_, a) => Set(TtlComparison.GreaterThan, a));
    }

    private void Set(TtlComparison comparison, OptionArguments a)
    {
        if (_test is not null) throw a.Error($"{_prefix}: only one of --{_prefix}-eq, --{_prefix}-lt, --{_prefix}-gt allowed");
        _test = (comparison, (byte)Values.UInt(a, _prefix, 255));
    }

    public override MatchExtension Finish(RuleContext context)
    {
        var (c, v) = _test ?? throw Error($"{_prefix}: option \"--{_prefix}-eq\", \"--{_prefix}-lt\" or \"--{_prefix}-gt\" must be specified");
        return _build(c, v);
    }
}
