using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>LOG's --log-* flags (XT_LOG_*).</summary>
[Flags]
public enum LogFlags
{
    None = 0,
    TcpSequence = 1,
    TcpOptions = 2,
    IpOptions = 4,
    Uid = 8,
    MacDecode = 0x20,
}

/// <summary>-j LOG: syslog level (default 4), a prefix of at most 29 characters, and flags. Does not end the traversal.</summary>
public sealed record LogTarget(byte Level, string Prefix, LogFlags Flags) : TargetExtension
{
    public override string Name => "LOG";
    public override bool IsTerminal => false;

    internal static readonly (string Name, byte Level)[] Levels =
    [
        ("alert", 1), ("crit", 2), ("debug", 7), ("emerg", 0), ("error", 3), ("info", 6), ("notice", 5), ("panic", 0),
        ("warning", 4),
    ];

    protected override void SaveOptions(SaveWriter w)
    {
        if (Prefix.Length > 0) w.Word("--log-prefix").Word(Values.SaveString(Prefix));
        if (Level != 4) w.Word("--log-level").Word(Values.Dec(Level));
        if (Flags.HasFlag(LogFlags.TcpSequence)) w.Word("--log-tcp-sequence");
        if (Flags.HasFlag(LogFlags.TcpOptions)) w.Word("--log-tcp-options");
        if (Flags.HasFlag(LogFlags.IpOptions)) w.Word("--log-ip-options");
        if (Flags.HasFlag(LogFlags.Uid)) w.Word("--log-uid");
        if (Flags.HasFlag(LogFlags.MacDecode)) w.Word("--log-macdecode");
    }

    internal static byte ParseLevel(OptionArguments a, string ext)
    {
        var text = a.Next("level");
        if (Values.TryUInt(text, 7, out var n)) return (byte)n;
        foreach (var (name, level) in Levels)
            if (name.Equals(text, StringComparison.OrdinalIgnoreCase)) return level;
        throw a.Error($"{ext}: log level \"{text}\" unknown");
    }

    internal static string ParsePrefix(OptionArguments a, string ext, int max)
    {
        var text = a.Next("prefix");
        if (text.Length > max) throw a.Error($"{ext}: Maximum prefix length {max} for --log-prefix");
        if (text.Contains('\n')) throw a.Error($"{ext}: Newlines not allowed in --log-prefix");
        return text;
    }
}

public sealed class LogTargetParser : TargetParser
{
    private byte _level = 4;
    private string _prefix = "";
    private LogFlags _flags;

    protected override string ExtensionName => "LOG";

    public LogTargetParser()
    {
        On("log-level", (_, a) => _level = LogTarget.ParseLevel(a, "LOG"));
        On("log-prefix", (_, a) => _prefix = LogTarget.ParsePrefix(a, "LOG", 29));
        Flag("log-tcp-sequence", _ => _flags |= LogFlags.TcpSequence);
        Flag("log-tcp-options", _ => _flags |= LogFlags.TcpOptions);
        Flag("log-ip-options", _ => _flags |= LogFlags.IpOptions);
        Flag("log-uid", _ => _flags |= LogFlags.Uid);
        Flag("log-macdecode", _ => _flags |= LogFlags.MacDecode);
    }

    public override TargetExtension Finish(RuleContext context) => new LogTarget(_level, _prefix, _flags);
}
