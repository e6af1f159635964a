using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j TRACE (raw table): marks the packet for tracing.</summary>
public sealed record TraceTarget : TargetExtension
{
    public override string Name => "TRACE";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w) { }
}

public sealed class TraceTargetParser : TargetParser
{
    protected override string ExtensionName => "TRACE";

    public override TargetExtension Finish(RuleContext context) => new TraceTarget();
}
