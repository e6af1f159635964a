namespace Harness.Rules.Extensions;

/// <summary>-m hl (IPv6): --hl-eq / ! --hl-eq / --hl-lt / --hl-gt on the hop limit.</summary>
public sealed record HlMatch(TtlComparison Comparison, byte Value) : MatchExtension
{
    public override string Name => "hl";

    protected override void SaveOptions(SaveWriter w) => TtlSave.Write(w, "hl", Comparison, Value);
}
