using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>Conntrack events CT --ctevents may restrict (IPCT_*), in iptables' print order.</summary>
[Flags]
public enum CtEvents
{
    None = 0,
    New = 1 << 0,
    Related = 1 << 1,
    Destroy = 1 << 2,
    Reply = 1 << 3,
    Assured = 1 << 4,
    ProtoInfo = 1 << 5,
    Helper = 1 << 6,
    Mark = 1 << 7,
    NatSeqInfo = 1 << 8,
    Secmark = 1 << 9,
}

/// <summary>Which direction a CT zone applies to.</summary>
public enum CtZoneDirection
{
    Both,
    Original,
    Reply,
}

/// <summary>-j CT (raw table): --notrack, --helper, --ctevents, --expevents, --zone[-orig|-reply] N|mark, --timeout.</summary>
public sealed record CtTarget(
    bool NoTrack,
    string? Helper,
    CtEvents Events,
    CtEvents ExpectationEvents,
    ushort Zone,
    CtZoneDirection ZoneDirection,
    bool ZoneFromMark,
    string? Timeout) : TargetExtension
{
    public override string Name => "CT";
    public override bool IsTerminal => false;

    internal static readonly (string Name, uint Bit)[] EventNames =
    [
        ("new", 1 << 0), ("related", 1 << 1), ("destroy", 1 << 2), ("reply", 1 << 3), ("assured", 1 << 4),
        ("protoinfo", 1 << 5), ("helper", 1 << 6), ("mark", 1 << 7), ("natseqinfo", 1 << 8), ("secmark", 1 << 9),
    ];

    internal static readonly (string Name, uint Bit)[] ExpEventNames = [("new", 1 << 0)];

    protected override void SaveOptions(SaveWriter w)
    {
        if (NoTrack) w.Word("--notrack");
        if (Helper is not null) w.Word("--helper").Word(Helper);
        if (Events != 0) w.Word("--ctevents").Word(Values.FlagNames((uint)Events, EventNames));
        if (ExpectationEvents != 0) w.Word("--expevents").Word(Values.FlagNames((uint)ExpectationEvents, ExpEventNames));
        var zoneOption = ZoneDirection switch
        {
            CtZoneDirection.Original => "--zone-orig",
            CtZoneDirection.Reply => "--zone-reply",
            _ => "--zone",
        };
        if (ZoneFromMark) w.Word(zoneOption).Word("mark");
        else if (Zone != 0) w.Word(zoneOption).Word(Values.Dec(Zone));
        if (Timeout is not null) w.Word("--timeout").Word(Timeout);
    }
}

public sealed class CtTargetParser : TargetParser
{
    private CtTarget _t = new(false, null, 0, 0, 0, CtZoneDirection.Both, false, null);

    protected override string ExtensionName => "CT";

    public CtTargetParser()
    {
        Flag("notrack", _ => _t = _t with { NoTrack = true });
        On("helper", (_, a) => _t = _t with { Helper = Name(a, "helper", 15) });
        On("timeout", (_, a) => _t = _t with { Timeout = Name(a, "timeout", 31) });
        On("ctevents", (_, a) => _t = _t with { Events = (CtEvents)Values.FlagList(a, a.Next("events"), CtTarget.EventNames, "CT") });
        On("expevents", (_, a) => _t = _t with { ExpectationEvents = (CtEvents)Values.FlagList(a, a.Next("events"), CtTarget.ExpEventNames, "CT") });
        On("zone", (_, a) => Zone(a, CtZoneDirection.Both));
        On("zone-orig", (_, a) => Zone(a, CtZoneDirection.Original));
        On("zone-reply", (_, a) => Zone(a, CtZoneDirection.Reply));
    }

    private static string Name(OptionArguments a, string what, int max)
    {
        var text = a.Next(what);
        if (text.Length > max) throw a.Error($"CT: {what} name \"{text}\" is too long");
        return text;
    }

    private bool _zoneOriginal, _zoneReply;

    /// <summary>
    /// The zone options combine as libxt_CT combines them (each may be given once): --zone-orig and --zone-reply add
    /// their direction (both or neither: the zone applies to both), "mark" takes the zone from the mark, a number sets
    /// the zone, the last number given winning; so "--zone-orig 3 --zone-reply 4" is "--zone 4", as iptables-save
    /// prints it.
    /// </summary>
    private void Zone(OptionArguments a, CtZoneDirection direction)
    {
        if (direction == CtZoneDirection.Original) _zoneOriginal = true;
        if (direction == CtZoneDirection.Reply) _zoneReply = true;
        var combined = _zoneOriginal == _zoneReply ? CtZoneDirection.Both
            : _zoneOriginal ? CtZoneDirection.Original : CtZoneDirection.Reply;
        if (a.Peek?.Text == "mark")
        {
            a.Next("zone");
            _t = _t with { ZoneFromMark = true, ZoneDirection = combined };
            return;
        }
        _t = _t with { Zone = (ushort)Values.UInt(a, "CT", ushort.MaxValue), ZoneDirection = combined };
    }

    public override TargetExtension Finish(RuleContext context) => _t;
}
