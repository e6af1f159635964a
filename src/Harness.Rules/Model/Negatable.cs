namespace Harness.Rules;

/// <summary>A match value with iptables' "!" in front of it. Negation is applied in one place (see <see cref="Apply"/>).</summary>
public readonly record struct Negatable<T>(T Value, bool Negated)
{
    /// <summary>The result of the positive test, inverted when the option was negated (the kernel's NF_INVF).</summary>
    public bool Apply(bool positive) => positive ^ Negated;
}
