using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>What -j TTL / -j HL does to the TTL or hop limit.</summary>
public enum TtlOperation
{
    Set,
    Increment,
    Decrement,
}

/// <summary>-j TTL (IPv4, mangle): --ttl-set / --ttl-inc / --ttl-dec.</summary>
public sealed record TtlTarget(TtlOperation Operation, byte Value) : TargetExtension
{
    public override string Name => "TTL";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) => TtlTargetSave.Write(w, "ttl", Operation, Value);
}

internal static class TtlTargetSave
{
    public static void Write(SaveWriter w, string prefix, TtlOperation op, byte value) =>
        w.Word(op switch
        {
            TtlOperation.Set => $"--{prefix}-set",
            TtlOperation.Increment => $"--{prefix}-inc",
            _ => $"--{prefix}-dec",
        }).Word(Values.Dec(value));
}

/// <summary>Parser shared by TTL and HL.</summary>
public sealed class TtlLikeTargetParser : TargetParser
{
    private readonly string _prefix;
    private readonly Func<TtlOperation, byte, TargetExtension> _build;
    private (TtlOperation, byte)? _op;

    protected override string ExtensionName => _prefix.ToUpperInvariant();

    public TtlLikeTargetParser(string prefix, Func<TtlOperation, byte, TargetExtension> build)
    {
        _prefix = prefix;
        _build = build;
        On($"{prefix}-set", (_, a) => Set(TtlOperation.Set, (byte)Values.UInt(a, ExtensionName, 255), a));
        On($"{prefix}-inc", (_, a) => Set(TtlOperation.Increment, (byte)Values.UInt(a, ExtensionName, 255, 1), a));
        On($"{prefix}-dec", (_, a) => Set(TtlOperation.Decrement, (byte)Values.UInt(a, ExtensionName, 255, 1), a));
    }

    private void Set(TtlOperation op, byte value, OptionArguments a)
    {
        if (_op is not null) throw a.Error($"{ExtensionName}: only one of --{_prefix}-set, --{_prefix}-inc, --{_prefix}-dec allowed");
        _op = (op, value);
    }

    public override TargetExtension Finish(RuleContext context)
    {
        var (op, v) = _op ?? throw Error($"{ExtensionName}: You must specify an action");
        return _build(op, v);
    }
}
