namespace Harness.Rules;

/// <summary>The five tables and their built-in chains, as the kernel registers them.</summary>
public static class TableNames
{
    public const string Raw = "raw";
    public const string Mangle = "mangle";
    public const string Nat = "nat";
    public const string Filter = "filter";
    public const string Security = "security";

    public const string Prerouting = "PREROUTING";
    public const string Input = "INPUT";
    public const string Forward = "FORWARD";
    public const string Output = "OUTPUT";
    public const string Postrouting = "POSTROUTING";

    /// <summary>Built-in chains of each table, in the order iptables-save lists them.</summary>
    public static IReadOnlyList<string> BuiltinChains(string table) => table switch
    {
        Raw => [Prerouting, Output],
        Mangle => [Prerouting, Input, Forward, Output, Postrouting],
        Nat => [Prerouting, Input, Output, Postrouting],
        Filter => [Input, Forward, Output],
        Security => [Input, Forward, Output],
        _ => [],
    };

    public static bool IsKnown(string table) => table is Raw or Mangle or Nat or Filter or Security;
}
