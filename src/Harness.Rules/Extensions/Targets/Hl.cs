using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j HL (IPv6, mangle): --hl-set / --hl-inc / --hl-dec.</summary>
public sealed record HlTarget(TtlOperation Operation, byte Value) : TargetExtension
{
    public override string Name => "HL";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) => TtlTargetSave.Write(w, "hl", Operation, Value);
}
