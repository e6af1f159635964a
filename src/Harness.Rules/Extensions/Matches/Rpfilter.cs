using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m rpfilter (raw/mangle PREROUTING): reverse-path check of the source address.</summary>
public sealed record RpfilterMatch(bool Loose, bool ValidMark, bool AcceptLocal, bool Invert) : MatchExtension
{
    public override string Name => "rpfilter";

    protected override void SaveOptions(SaveWriter w)
    {
        if (Loose) w.Word("--loose");
        if (ValidMark) w.Word("--validmark");
        if (AcceptLocal) w.Word("--accept-local");
        if (Invert) w.Word("--invert");
    }
}

public sealed class RpfilterMatchParser : MatchParser
{
    private bool _loose, _validMark, _acceptLocal, _invert;

    protected override string ExtensionName => "rpfilter";

    public RpfilterMatchParser()
    {
        Flag("loose", _ => _loose = true);
        Flag("validmark", _ => _validMark = true);
        Flag("accept-local", _ => _acceptLocal = true);
        Flag("invert", _ => _invert = true);
    }

    public override MatchExtension Finish(RuleContext context) => new RpfilterMatch(_loose, _validMark, _acceptLocal, _invert);
}
