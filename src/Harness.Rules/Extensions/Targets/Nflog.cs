using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j NFLOG: logs via nfnetlink_log group <see cref="Group"/>; does not end the traversal.</summary>
public sealed record NflogTarget(ushort Group, string Prefix, uint? Size, ushort Threshold) : TargetExtension
{
    public override string Name => "NFLOG";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w)
    {
        if (Prefix.Length > 0) w.Word("--nflog-prefix").Word(Values.SaveString(Prefix));
        if (Group != 0) w.Word("--nflog-group").Word(Values.Dec(Group));
        if (Size is { } s) w.Word("--nflog-size").Word(Values.Dec(s));
        if (Threshold != 0) w.Word("--nflog-threshold").Word(Values.Dec(Threshold));
    }
}

public sealed class NflogTargetParser : TargetParser
{
    private ushort _group, _threshold;
    private string _prefix = "";
    private uint? _size;

    protected override string ExtensionName => "NFLOG";

    public NflogTargetParser()
    {
        On("nflog-group", (_, a) => _group = (ushort)Values.UInt(a, "NFLOG", ushort.MaxValue));
        On("nflog-prefix", (_, a) => _prefix = LogTarget.ParsePrefix(a, "NFLOG", 127));
        // iptables 1.8.9 (nf_tables) accepts --nflog-range but keeps nothing of it ("has never worked").
        On("nflog-range", (_, a) => Values.UInt32(a, "NFLOG"));
        On("nflog-size", (_, a) => _size = Values.UInt32(a, "NFLOG"));
        On("nflog-threshold", (_, a) => _threshold = (ushort)Values.UInt(a, "NFLOG", ushort.MaxValue));
    }

    public override TargetExtension Finish(RuleContext context)
    {
        if (Given("nflog-range") && Given("nflog-size"))
            throw Error("NFLOG: option \"--nflog-range\" cannot be used together with \"--nflog-size\".");
        return new NflogTarget(_group, _prefix, _size, _threshold);
    }
}
