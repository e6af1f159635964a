namespace Harness.Rules.Loading;

/// <summary>
/// One ruleset input: an iptables-save document or a script of iptables commands. <see cref="Path"/> names it in
/// diagnostics. Inputs made by <see cref="FromFile"/> are streamed from disk when loaded (the text is not held).
/// </summary>
public sealed record RulesetInput(string Path, string Text)
{
    /// <summary>True when the input is read from <see cref="Path"/> at load time rather than from <see cref="Text"/>.</summary>
    public bool IsFile { get; private init; }

    /// <summary>An input read from a file when it is loaded; unreadable files and binary data become diagnostics.</summary>
    public static RulesetInput FromFile(string path) => new(path, "") { IsFile = true };
}
