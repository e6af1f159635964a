using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m physdev: the bridge port a bridged packet came in on / goes out on. Null: not tested.</summary>
public sealed record PhysdevMatch(
    Negatable<bool>? IsIn,
    Negatable<InterfaceName>? In,
    Negatable<bool>? IsOut,
    Negatable<InterfaceName>? Out,
    Negatable<bool>? IsBridged) : MatchExtension
{
    public override string Name => "physdev";

    protected override void SaveOptions(SaveWriter w)
    {
        if (IsIn is { } a) w.Option("--physdev-is-in", null, a.Negated);
        Printing.Negatable(w, "--physdev-in", In, i => i.Text);
        if (IsOut is { } b) w.Option("--physdev-is-out", null, b.Negated);
        Printing.Negatable(w, "--physdev-out", Out, i => i.Text);
        if (IsBridged is { } c) w.Option("--physdev-is-bridged", null, c.Negated);
    }
}

public sealed class PhysdevMatchParser : MatchParser
{
    private PhysdevMatch _m = new(null, null, null, null, null);

    protected override string ExtensionName => "physdev";

    public PhysdevMatchParser()
    {
        On("physdev-in", (inv, a) => _m = _m with { In = new(Interface(a), inv) }, invert: true);
        On("physdev-out", (inv, a) => _m = _m with { Out = new(Interface(a), inv) }, invert: true);
        Flag("physdev-is-in", inv => _m = _m with { IsIn = new(true, inv) }, invert: true);
        Flag("physdev-is-out", inv => _m = _m with { IsOut = new(true, inv) }, invert: true);
        Flag("physdev-is-bridged", inv => _m = _m with { IsBridged = new(true, inv) }, invert: true);
    }

    private static InterfaceName Interface(OptionArguments a)
    {
        var text = a.Next("interface");
        if (text.Length == 0 || text.Length > 15) throw a.Error($"interface name `{text}' must be shorter than IFNAMSIZ (15)");
        return new InterfaceName(text);
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_m == new PhysdevMatch(null, null, null, null, null)) throw Error("PHYSDEV: no physdev option specified");
        bool outOptions = _m.Out is not null || _m.IsOut is not null;
        bool bridged = _m.IsBridged is { Negated: false };
        if (outOptions && !bridged && context.Chain == TableNames.Output)
            throw Error("physdev: --physdev-out and --physdev-is-out only supported in the FORWARD and POSTROUTING chains with bridged traffic");
        return _m;
    }
}
