using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>An inclusive address range "a-b" (iprange); First may exceed Last, as iptables allows (it then matches nothing).</summary>
public readonly record struct AddressRange(Address First, Address Last)
{
    public bool Contains(Address a) => a.Family == First.Family && a.CompareTo(First) >= 0 && a.CompareTo(Last) <= 0;

    public override string ToString() => First + "-" + Last;
}

/// <summary>-m iprange (revision 1): --src-range and/or --dst-range. Null: not tested.</summary>
public sealed record IprangeMatch(Negatable<AddressRange>? Source, Negatable<AddressRange>? Destination) : MatchExtension
{
    public override string Name => "iprange";

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--src-range", Source, r => r.ToString());
        Printing.Negatable(w, "--dst-range", Destination, r => r.ToString());
    }
}

public sealed class IprangeMatchParser : MatchParser
{
    private Negatable<AddressRange>? _src, _dst;

    protected override string ExtensionName => "iprange";

    public IprangeMatchParser(Family family)
    {
        On("src-range", (inv, a) => _src = new(Range(a, family), inv), invert: true);
        On("dst-range", (inv, a) => _dst = new(Range(a, family), inv), invert: true);
    }

    private static AddressRange Range(OptionArguments a, Family family)
    {
        var text = a.Next("from[-to]");
        var dash = text.IndexOf('-');
        var first = Values.Address(a, dash < 0 ? text : text[..dash], family);
        var last = dash < 0 ? first : Values.Address(a, text[(dash + 1)..], family);
        return new AddressRange(first, last);
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_src is null && _dst is null) throw Error("iprange match: You must specify `--src-range' or `--dst-range'");
        return new IprangeMatch(_src, _dst);
    }
}
