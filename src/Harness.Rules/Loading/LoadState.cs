using Harness.Net;

namespace Harness.Rules.Loading;

/// <summary>The machine being loaded: its family, its tables so far, and the errors met.</summary>
internal sealed class LoadState(Family family, string familySource, DiagnosticBag diagnostics)
{
    /// <summary>The order in which iptables-save (nf_tables, 1.8.9) prints the tables that exist.</summary>
    public static readonly string[] SaveOrder =
        [TableNames.Mangle, TableNames.Security, TableNames.Raw, TableNames.Filter, TableNames.Nat];

    public Family Family { get; } = family;

    /// <summary>How the family was decided, for messages ("IPv4 (from --family)").</summary>
    public string FamilySource { get; } = familySource;

    public DiagnosticBag Diagnostics { get; } = diagnostics;

    public Dictionary<string, TableState> Tables { get; } = new(StringComparer.Ordinal);

    public CommandExecutor Executor { get; } = new(family);

    public TableState GetOrCreate(string name)
    {
        if (!Tables.TryGetValue(name, out var table)) Tables[name] = table = new TableState(name);
        return table;
    }

    public Ruleset Freeze() =>
        new(Family, [.. SaveOrder.Where(Tables.ContainsKey).Select(name => Tables[name].Freeze())]);
}
