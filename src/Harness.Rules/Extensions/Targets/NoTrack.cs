using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j NOTRACK (raw table): the packet gets no conntrack entry (state UNTRACKED).</summary>
public sealed record NoTrackTarget : TargetExtension
{
    public override string Name => "NOTRACK";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) { }
}

public sealed class NoTrackTargetParser : TargetParser
{
    protected override string ExtensionName => "NOTRACK";

    public override TargetExtension Finish(RuleContext context) => new NoTrackTarget();
}
