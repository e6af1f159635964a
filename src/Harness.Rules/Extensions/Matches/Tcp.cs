using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>--tcp-flags MASK COMP: the packet's flags AND Mask must equal Compare.</summary>
public readonly record struct TcpFlagsTest(TcpFlags Mask, TcpFlags Compare)
{
    public static readonly TcpFlagsTest Syn = new(TcpFlags.Fin | TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Ack, TcpFlags.Syn);

    public bool Matches(TcpFlags flags) => (flags & Mask) == Compare;
}

/// <summary>-m tcp (xt_tcp): ports, flags and an option kind. Null: not tested.</summary>
public sealed record TcpMatch(
    Negatable<PortRange>? SourcePorts,
    Negatable<PortRange>? DestinationPorts,
    Negatable<TcpFlagsTest>? Flags,
    Negatable<byte>? Option) : MatchExtension
{
    public override string Name => "tcp";

    internal static readonly (string Name, uint Bit)[] FlagNames =
    [
        ("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10), ("URG", 0x20), ("ALL", 0x3F),
        ("NONE", 0),
    ];

    /// <summary>libxt_tcp's print_tcpf: FIN..URG by name, NONE when empty.</summary>
    internal static string PrintFlags(TcpFlags flags)
    {
        var names = new List<string>();
        string[] order = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        for (int i = 0; i < 8; i++)
            if (((byte)flags & (1 << i)) != 0) names.Add(order[i]);
        return names.Count == 0 ? "NONE" : string.Join(",", names);
    }

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--sport", SourcePorts, r => Printing.Range(r));
        Printing.Negatable(w, "--dport", DestinationPorts, r => Printing.Range(r));
        Printing.Negatable(w, "--tcp-option", Option, o => Values.Dec(o));
        if (Flags is { } f)
        {
            if (f.Negated) w.Word("!");
            w.Word("--tcp-flags").Word(PrintFlags(f.Value.Mask)).Word(PrintFlags(f.Value.Compare));
        }
    }
}

public sealed class TcpMatchParser : MatchParser
{
    private Negatable<PortRange>? _sport, _dport;
    private Negatable<TcpFlagsTest>? _flags;
    private Negatable<byte>? _option;

    protected override string ExtensionName => "tcp";

    public TcpMatchParser()
    {
        On("source-port", (inv, a) => _sport = Ports(a, inv, null), invert: true, aliases: "sport");
        On("destination-port", (inv, a) => _dport = Ports(a, inv, null), invert: true, aliases: "dport");
        Flag("syn", inv => SetFlags(new Negatable<TcpFlagsTest>(TcpFlagsTest.Syn, inv)), invert: true);
        On("tcp-flags", (inv, a) =>
        {
            var mask = (TcpFlags)Values.FlagList(a, a.Next("flag mask"), TcpMatch.FlagNames, "tcp");
            var comp = (TcpFlags)Values.FlagList(a, a.Next("flags to compare"), TcpMatch.FlagNames, "tcp");
            SetFlags(new Negatable<TcpFlagsTest>(new TcpFlagsTest(mask, comp), inv));
        }, invert: true);
        On("tcp-option", (inv, a) => _option = new Negatable<byte>((byte)Values.UInt(a, "tcp", 255, 1), inv), invert: true);
    }

    private void SetFlags(Negatable<TcpFlagsTest> flags)
    {
        if (_flags is not null) throw Error("tcp: Only one of `--syn' or `--tcp-flags'  allowed");
        _flags = flags;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        ProtocolCheck.Require(context, "TCP match requires '-p tcp'", IpProtocol.Tcp);
        return new TcpMatch(_sport, _dport, _flags, _option);
    }

    /// <summary>A port or range of the option; ":" (everything) without "!" means "not tested".</summary>
    internal static Negatable<PortRange>? Ports(OptionArguments args, bool negated, string? protocol)
    {
        var range = Values.PortRange(args, args.Next("port"), protocol);
        if (range == PortRange.All && !negated) return null;
        return new Negatable<PortRange>(range, negated);
    }
}
