namespace Harness.Engine.Conntrack;

/// <summary>
/// What the raw table decided about conntrack for one packet before the conntrack step (the kernel's template
/// conntrack): <c>-j NOTRACK</c> / <c>-j CT --notrack</c> (untracked), <c>-j CT --zone N</c>, <c>-j CT --helper ftp</c>.
/// The engine starts each packet with <see cref="Default"/> and applies the raw-table targets in order.
/// </summary>
public sealed record CtTemplate(bool NoTrack = false, ushort Zone = 0, string? Helper = null)
{
    public static readonly CtTemplate Default = new();

    /// <summary>The helpers the model implements ("ftp"). Others must be refused when the ruleset is loaded.</summary>
    public static readonly IReadOnlyList<string> SupportedHelpers = ["ftp"];

    /// <summary>True when <paramref name="name"/> is a helper the model implements.</summary>
    public static bool IsSupportedHelper(string name) => SupportedHelpers.Contains(name, StringComparer.Ordinal);

    /// <summary>
    /// The template after "-j CT --helper NAME"; throws <see cref="ArgumentException"/> naming the helper when the model
    /// has no such helper (the engine should check <see cref="IsSupportedHelper"/> when it compiles the ruleset).
    /// </summary>
    public CtTemplate WithHelper(string name) => IsSupportedHelper(name)
        ? this with { Helper = name }
        : throw new ArgumentException($"conntrack helper \"{name}\" is not supported (supported: {string.Join(", ", SupportedHelpers)})", nameof(name));
}
