using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

public enum ConnmarkMode
{
    /// <summary>ctmark = (ctmark AND NOT CtMask) XOR CtMark.</summary>
    Set,
    /// <summary>ctmark = (ctmark AND NOT CtMask) XOR (nfmark AND NfMask).</summary>
    Save,
    /// <summary>nfmark = (nfmark AND NOT NfMask) XOR (ctmark AND CtMask).</summary>
    Restore,
}

/// <summary>-j CONNMARK (revision 2, with the shift options). Does not end the traversal.</summary>
public sealed record ConnmarkTarget(
    ConnmarkMode Mode,
    uint CtMark,
    uint CtMask,
    uint NfMask,
    ConnmarkShift ShiftDirection,
    byte ShiftBits) : TargetExtension
{
    public override string Name => "CONNMARK";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w)
    {
        switch (Mode)
        {
            case ConnmarkMode.Set:
                w.Word("--set-xmark").Word(Values.Hex(CtMark) + "/" + Values.Hex(CtMask));
                break;
            case ConnmarkMode.Save:
                w.Word("--save-mark").Word("--nfmask").Word(Values.Hex(NfMask)).Word("--ctmask").Word(Values.Hex(CtMask));
                break;
            default:
                w.Word("--restore-mark").Word("--nfmask").Word(Values.Hex(NfMask)).Word("--ctmask").Word(Values.Hex(CtMask));
                break;
        }
        if (ShiftBits != 0)
            w.Word(ShiftDirection == ConnmarkShift.Left ? "--left-shift-mark" : "--right-shift-mark").Word(Values.Dec(ShiftBits));
    }
}

public enum ConnmarkShift
{
    Left,
    Right,
}

public sealed class ConnmarkTargetParser : TargetParser
{
    private ConnmarkMode? _mode;
    private uint _ctMark, _ctMask = uint.MaxValue, _nfMask = uint.MaxValue;
    private ConnmarkShift _shift;
    private byte _bits;

    protected override string ExtensionName => "CONNMARK";

    public ConnmarkTargetParser()
    {
        On("set-xmark", (_, a) => { var (v, m) = Values.MarkMask(a, "CONNMARK"); SetMode(ConnmarkMode.Set, a); _ctMark = v; _ctMask = m; });
        On("set-mark", (_, a) => { var (v, m) = Values.MarkMask(a, "CONNMARK"); SetMode(ConnmarkMode.Set, a); _ctMark = v; _ctMask = v | m; });
        On("and-mark", (_, a) => { var m = Values.UInt32(a, "CONNMARK"); SetMode(ConnmarkMode.Set, a); _ctMark = 0; _ctMask = ~m; });
        On("or-mark", (_, a) => { var m = Values.UInt32(a, "CONNMARK"); SetMode(ConnmarkMode.Set, a); _ctMark = m; _ctMask = m; });
        On("xor-mark", (_, a) => { var m = Values.UInt32(a, "CONNMARK"); SetMode(ConnmarkMode.Set, a); _ctMark = m; _ctMask = 0; });
        Flag("save-mark", _ => SetMode(ConnmarkMode.Save, null));
        Flag("restore-mark", _ => SetMode(ConnmarkMode.Restore, null));
        On("mask", (_, a) => { var m = Values.UInt32(a, "CONNMARK"); _ctMask = m; _nfMask = m; });
        On("nfmask", (_, a) => _nfMask = Values.UInt32(a, "CONNMARK"));
        On("ctmask", (_, a) => _ctMask = Values.UInt32(a, "CONNMARK"));
        On("left-shift-mark", (_, a) => { _shift = ConnmarkShift.Left; _bits = (byte)Values.UInt(a, "CONNMARK", 31); });
        On("right-shift-mark", (_, a) => { _shift = ConnmarkShift.Right; _bits = (byte)Values.UInt(a, "CONNMARK", 31); });
    }

    private void SetMode(ConnmarkMode mode, OptionArguments? a)
    {
        if (_mode is not null)
            throw a?.Error("CONNMARK target: Only one of --set-xmark, --save-mark, --restore-mark allowed")
                ?? Error("CONNMARK target: Only one of --set-xmark, --save-mark, --restore-mark allowed");
        _mode = mode;
    }

    public override TargetExtension Finish(RuleContext context)
    {
        if (_mode is not { } mode) throw Error("CONNMARK target: No operation specified");
        if (mode == ConnmarkMode.Set && (Given("mask") || Given("nfmask") || Given("ctmask")))
            throw Error("CONNMARK target: --mask, --nfmask and --ctmask are only valid with --save-mark or --restore-mark");
        return new ConnmarkTarget(mode, _ctMark, _ctMask, _nfMask, _shift, _bits);
    }
}
