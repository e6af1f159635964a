using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m helper --helper NAME: the connection (or its master) uses the conntrack helper NAME (e.g. "ftp", "sip-5060").</summary>
public sealed record HelperMatch(Negatable<string> Helper) : MatchExtension
{
    public override string Name => "helper";

    protected override void SaveOptions(SaveWriter w) => w.Option("--helper", Values.SaveString(Helper.Value), Helper.Negated);
}

public sealed class HelperMatchParser : MatchParser
{
    private Negatable<string>? _helper;

    protected override string ExtensionName => "helper";

    public HelperMatchParser() => On("helper", (inv, a) =>
    {
        var text = a.Next("helper name");
        if (text.Length > 29) throw a.Error("helper: name too long");
        _helper = new(text, inv);
    }, invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new HelperMatch(_helper ?? throw Error("helper: option \"--helper\" must be specified"));
}
