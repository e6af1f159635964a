using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m connmark --mark VALUE[/MASK]: (conntrack mark AND Mask) == Value.</summary>
public sealed record ConnmarkMatch(Negatable<MarkMask> Mark) : MatchExtension
{
    public override string Name => "connmark";

    protected override void SaveOptions(SaveWriter w) => w.Option("--mark", Mark.Value.ToString(), Mark.Negated);
}

public sealed class ConnmarkMatchParser : MatchParser
{
    private Negatable<MarkMask>? _mark;

    protected override string ExtensionName => "connmark";

    public ConnmarkMatchParser() => On("mark", (inv, a) => _mark = new(MarkMask.Parse(a, "connmark"), inv), invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new ConnmarkMatch(_mark ?? throw Error("connmark: option \"--mark\" must be specified"));
}
