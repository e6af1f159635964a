namespace Harness.Rules;

/// <summary>An interface name as written in -i/-o/--physdev-in: a trailing '+' matches every name with that prefix.</summary>
public readonly record struct InterfaceName(string Text)
{
    public bool IsWildcard => Text.EndsWith('+');

    public bool Matches(string? name)
    {
        if (name is null) return false;
        if (IsWildcard) return name.StartsWith(Text.AsSpan(0, Text.Length - 1), StringComparison.Ordinal);
        return name == Text;
    }

    public override string ToString() => Text;
}
