using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>The conntrack states -m conntrack --ctstate and -m state test.</summary>
[Flags]
public enum ConntrackStates
{
    None = 0,
    Invalid = 1,
    New = 2,
    Related = 4,
    Established = 8,
    Untracked = 16,
    Snat = 32,
    Dnat = 64,
}

/// <summary>The conntrack status bits --ctstatus tests (IPS_*).</summary>
[Flags]
public enum ConntrackStatus
{
    None = 0,
    Expected = 1,
    SeenReply = 2,
    Assured = 4,
    Confirmed = 8,
}

public enum ConntrackDirection
{
    Original,
    Reply,
}

/// <summary>-m conntrack (revision 3). Null: not tested. Addresses keep the host bits as written (compare under the mask).</summary>
public sealed record ConntrackMatch(
    Negatable<ConntrackStates>? State = null,
    Negatable<byte>? Protocol = null,
    Negatable<Cidr>? OriginalSource = null,
    Negatable<Cidr>? OriginalDestination = null,
    Negatable<Cidr>? ReplySource = null,
    Negatable<Cidr>? ReplyDestination = null,
    Negatable<PortRange>? OriginalSourcePort = null,
    Negatable<PortRange>? OriginalDestinationPort = null,
    Negatable<PortRange>? ReplySourcePort = null,
    Negatable<PortRange>? ReplyDestinationPort = null,
    Negatable<ConntrackStatus>? Status = null,
    Negatable<UIntRange>? Expire = null,
    ConntrackDirection? Direction = null) : MatchExtension
{
    public override string Name => "conntrack";

    internal static readonly (string Name, uint Bit)[] StateNames =
    [
        ("INVALID", (uint)ConntrackStates.Invalid), ("NEW", (uint)ConntrackStates.New),
        ("RELATED", (uint)ConntrackStates.Related), ("ESTABLISHED", (uint)ConntrackStates.Established),
        ("UNTRACKED", (uint)ConntrackStates.Untracked), ("SNAT", (uint)ConntrackStates.Snat), ("DNAT", (uint)ConntrackStates.Dnat),
    ];

    internal static readonly (string Name, uint Bit)[] StatusNames =
    [
        ("NONE", 0), ("EXPECTED", (uint)ConntrackStatus.Expected), ("SEEN_REPLY", (uint)ConntrackStatus.SeenReply),
        ("ASSURED", (uint)ConntrackStatus.Assured), ("CONFIRMED", (uint)ConntrackStatus.Confirmed),
    ];

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--ctstate", State, s => Values.FlagNames((uint)s, StateNames));
        Printing.Negatable(w, "--ctproto", Protocol, p => Values.Dec(p));
        Printing.Negatable(w, "--ctorigsrc", OriginalSource, Printing.AddressMaybeMask);
        Printing.Negatable(w, "--ctorigdst", OriginalDestination, Printing.AddressMaybeMask);
        Printing.Negatable(w, "--ctreplsrc", ReplySource, Printing.AddressMaybeMask);
        Printing.Negatable(w, "--ctrepldst", ReplyDestination, Printing.AddressMaybeMask);
        Printing.Negatable(w, "--ctorigsrcport", OriginalSourcePort, r => Printing.Range(r));
        Printing.Negatable(w, "--ctorigdstport", OriginalDestinationPort, r => Printing.Range(r));
        Printing.Negatable(w, "--ctreplsrcport", ReplySourcePort, r => Printing.Range(r));
        Printing.Negatable(w, "--ctrepldstport", ReplyDestinationPort, r => Printing.Range(r));
        Printing.Negatable(w, "--ctstatus", Status, s => s == 0 ? "NONE" : Values.FlagNames((uint)s, StatusNames));
        Printing.Negatable(w, "--ctexpire", Expire, e => e.ToString());
        if (Direction is { } d) w.Option("--ctdir", d == ConntrackDirection.Reply ? "REPLY" : "ORIGINAL");
    }
}

public sealed class ConntrackMatchParser : MatchParser
{
    private ConntrackMatch _m = new();

    protected override string ExtensionName => "conntrack";

    public ConntrackMatchParser(Family family)
    {
        On("ctstate", (inv, a) => _m = _m with { State = new(States(a, ConntrackMatch.StateNames, "conntrack"), inv) }, invert: true);
        On("ctproto", (inv, a) =>
        {
            var text = a.Next("protocol");
            if (!ProtocolNames.TryParse(text, out var p)) throw a.Error($"unknown protocol \"{text}\" specified");
            if (p == 0) throw a.Error("conntrack: --ctproto 0 is not supported");
            _m = _m with { Protocol = new(p, inv) };
        }, invert: true);
        On("ctorigsrc", (inv, a) => _m = _m with { OriginalSource = new(Values.Cidr(a, a.Next("address"), family), inv) }, invert: true);
        On("ctorigdst", (inv, a) => _m = _m with { OriginalDestination = new(Values.Cidr(a, a.Next("address"), family), inv) }, invert: true);
        On("ctreplsrc", (inv, a) => _m = _m with { ReplySource = new(Values.Cidr(a, a.Next("address"), family), inv) }, invert: true);
        On("ctrepldst", (inv, a) => _m = _m with { ReplyDestination = new(Values.Cidr(a, a.Next("address"), family), inv) }, invert: true);
        On("ctorigsrcport", (inv, a) => _m = _m with { OriginalSourcePort = new(Values.PortRange(a, a.Next("port"), null), inv) }, invert: true);
        On("ctorigdstport", (inv, a) => _m = _m with { OriginalDestinationPort = new(Values.PortRange(a, a.Next("port"), null), inv) }, invert: true);
        On("ctreplsrcport", (inv, a) => _m = _m with { ReplySourcePort = new(Values.PortRange(a, a.Next("port"), null), inv) }, invert: true);
        On("ctrepldstport", (inv, a) => _m = _m with { ReplyDestinationPort = new(Values.PortRange(a, a.Next("port"), null), inv) }, invert: true);
        On("ctstatus", (inv, a) => _m = _m with { Status = new((ConntrackStatus)Values.FlagList(a, a.Next("status"), ConntrackMatch.StatusNames, "conntrack"), inv) }, invert: true);
        On("ctexpire", (inv, a) => _m = _m with { Expire = new(UIntRange.Parse(a, "conntrack"), inv) }, invert: true);
        On("ctdir", (_, a) =>
        {
            var text = a.Next("ORIGINAL|REPLY");
            _m = _m with
            {
                Direction = text.Equals("ORIGINAL", StringComparison.OrdinalIgnoreCase) ? ConntrackDirection.Original
                    : text.Equals("REPLY", StringComparison.OrdinalIgnoreCase) ? ConntrackDirection.Reply
                    : throw a.Error($"Unknown --ctdir value \"{text}\""),
            };
        });
    }

    internal static ConntrackStates States(OptionArguments a, (string Name, uint Bit)[] names, string ext)
    {
        var text = a.Next("state list");
        uint bits = Values.FlagList(a, text, names, ext);
        return (ConntrackStates)bits;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_m == new ConntrackMatch()) throw Error("conntrack: At least one option is required");
        return _m;
    }
}
