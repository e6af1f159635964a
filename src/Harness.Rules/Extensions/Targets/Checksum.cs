using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j CHECKSUM --checksum-fill (mangle): computes a missing checksum.</summary>
public sealed record ChecksumTarget : TargetExtension
{
    public override string Name => "CHECKSUM";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) => w.Word("--checksum-fill");
}

public sealed class ChecksumTargetParser : TargetParser
{
    private bool _fill;

    protected override string ExtensionName => "CHECKSUM";

    public ChecksumTargetParser() => Flag("checksum-fill", _ => _fill = true);

    public override TargetExtension Finish(RuleContext context) =>
        _fill ? new ChecksumTarget() : throw Error("CHECKSUM target: Parameter --checksum-fill is required");
}
