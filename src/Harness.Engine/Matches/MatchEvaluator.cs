using Harness.Engine.Walk;
using Harness.Rules;

namespace Harness.Engine.Matches;

/// <summary>
/// The per-packet test of one "-m NAME" of one rule, built once when the engine compiles the ruleset (the kernel's
/// checkentry) and run per packet without throwing (the kernel's match). Negation is applied inside, from the record's
/// <see cref="Negatable{T}"/> values.
/// </summary>
public abstract class MatchEvaluator
{
    public abstract bool Matches(PacketState state);

    /// <summary>
    /// For the compiled walk: the single destination port (and its protocol) this match requires, when it requires
    /// exactly one and is not negated. Null otherwise.
    /// </summary>
    public virtual (byte Protocol, ushort Port)? ExactDestinationPort => null;
}

/// <summary>What an evaluator may look at while it is built: the rule, where it sits, the family, the shared runtime.</summary>
public sealed record CompileContext(Rule Rule, Harness.Net.Family Family, EngineRuntime Runtime)
{
    public string Table => Rule.Table;
    public string Chain => Rule.Chain;

    /// <summary>A setup error naming the rule by id and source line.</summary>
    public EngineSetupException Error(string message) =>
        new($"{Rule.Source}: rule {Rule.Id}: {message} (in \"{Rule.Text}\")");
}
