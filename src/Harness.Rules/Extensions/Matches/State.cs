using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m state --state: the conntrack states INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED.</summary>
public sealed record StateMatch(Negatable<ConntrackStates> States) : MatchExtension
{
    public override string Name => "state";

    internal static readonly (string Name, uint Bit)[] Names =
    [
        ("INVALID", (uint)ConntrackStates.Invalid), ("NEW", (uint)ConntrackStates.New),
        ("RELATED", (uint)ConntrackStates.Related), ("ESTABLISHED", (uint)ConntrackStates.Established),
        ("UNTRACKED", (uint)ConntrackStates.Untracked),
    ];

    protected override void SaveOptions(SaveWriter w) =>
        w.Option("--state", Values.FlagNames((uint)States.Value, Names), States.Negated);
}

public sealed class StateMatchParser : MatchParser
{
    private Negatable<ConntrackStates>? _states;

    protected override string ExtensionName => "state";

    public StateMatchParser() =>
        On("state", (inv, a) => _states = new(ConntrackMatchParser.States(a, StateMatch.Names, "state"), inv), invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new StateMatch(_states ?? throw Error("state: option \"--state\" must be specified"));
}
