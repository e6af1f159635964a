using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m nfacct --nfacct-name NAME: counts into the nfacct object NAME; always matches.</summary>
public sealed record NfacctMatch(string ObjectName) : MatchExtension
{
    public override string Name => "nfacct";

    protected override void SaveOptions(SaveWriter w) => w.Word("--nfacct-name").Word(ObjectName);
}

public sealed class NfacctMatchParser : MatchParser
{
    private string? _name;

    protected override string ExtensionName => "nfacct";

    public NfacctMatchParser() => On("nfacct-name", (_, a) =>
    {
        var text = a.Next("name");
        if (text.Length == 0 || text.Length > 31) throw a.Error("nfacct: name must be 1-31 characters");
        _name = text;
    });

    public override MatchExtension Finish(RuleContext context) =>
        new NfacctMatch(_name ?? throw Error("nfacct: option \"--nfacct-name\" must be specified"));
}
