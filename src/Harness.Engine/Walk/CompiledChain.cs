using Harness.Rules;

namespace Harness.Engine.Walk;

/// <summary>A chain ready to run: its rules, its policy when built-in, and the candidate index of the compiled walk.</summary>
public sealed class CompiledChain
{
    public CompiledChain(string table, string name, Verdict? policy, CompiledRule[] rules)
    {
        Table = table;
        Name = name;
        Policy = policy;
        Rules = rules;
    }

    public string Table { get; }

    public string Name { get; }

    public Verdict? Policy { get; }

    public bool IsBuiltin => Policy is not null;

    public CompiledRule[] Rules { get; }

    /// <summary>Null when the chain is short or no key splits it well; then every rule is a candidate.</summary>
    public ChainIndex? Index { get; set; }

    public long PolicyPackets;
    public long PolicyBytes;

    /// <summary>"table:chain:policy", computed once.</summary>
    public string PolicyId => _policyId ??= $"{Table}:{Name}:policy";

    private string? _policyId;
    private readonly PathStep?[] _entered = new PathStep?[5];
    private readonly PathStep?[] _policy = new PathStep?[5];

    /// <summary>The path step "entered this chain at this hook", made once per hook.</summary>
    public PathStep EnteredAt(Hook hook) => _entered[(int)hook] ??= new PathStep(hook, Table, Name, null);

    /// <summary>The path step "this chain's policy decided at this hook", made once per hook.</summary>
    public PathStep PolicyAt(Hook hook) =>
        _policy[(int)hook] ??= new PathStep(hook, Table, Name, null, Policy == Verdict.Drop ? "DROP" : "ACCEPT");

    public override string ToString() => $"{Table}:{Name}";
}
