using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m rt (IPv6 routing header). Null: not tested.</summary>
public sealed record RtMatch(
    Negatable<byte>? Type,
    Negatable<UIntRange>? SegmentsLeft,
    Negatable<uint>? Length,
    bool Type0Reserved,
    ImmutableArray<Address> Type0Addresses,
    bool Type0NotStrict) : MatchExtension
{
    public override string Name => "rt";

    public bool Equals(RtMatch? o) =>
        o is not null && Type == o.Type && SegmentsLeft == o.SegmentsLeft && Length == o.Length &&
        Type0Reserved == o.Type0Reserved && Type0Addresses.SequenceEqual(o.Type0Addresses) && Type0NotStrict == o.Type0NotStrict;

    public override int GetHashCode() => HashCode.Combine(Type, SegmentsLeft, Length);

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--rt-type", Type, t => Values.Dec(t));
        Printing.Negatable(w, "--rt-segsleft", SegmentsLeft, r => r.ToString());
        Printing.Negatable(w, "--rt-len", Length, l => Values.Dec(l));
        if (Type0Reserved) w.Word("--rt-0-res");
        if (!Type0Addresses.IsEmpty) w.Word("--rt-0-addrs").Word(string.Join(",", Type0Addresses));
        if (Type0NotStrict) w.Word("--rt-0-not-strict");
    }
}

public sealed class RtMatchParser : MatchParser
{
    private RtMatch _m = new(null, null, null, false, [], false);

    protected override string ExtensionName => "rt";

    public RtMatchParser()
    {
        On("rt-type", (inv, a) => _m = _m with { Type = new((byte)Values.UInt(a, "rt", 255), inv) }, invert: true);
        On("rt-segsleft", (inv, a) =>
        {
            var r = UIntRange.Parse(a, "rt");
            _m = _m with { SegmentsLeft = r == new UIntRange(0, uint.MaxValue) && !inv ? null : new(r, inv) };
        }, invert: true);
        On("rt-len", (inv, a) => _m = _m with { Length = new(Values.UInt32(a, "rt"), inv) }, invert: true);
        Flag("rt-0-res", _ => { RequireType0("--rt-0-res"); _m = _m with { Type0Reserved = true }; });
        On("rt-0-addrs", (_, a) =>
        {
            RequireType0("--rt-0-addrs");
            var list = a.Next("addresses").Split(',').Select(t => Values.Address(a, t, Family.IPv6)).ToImmutableArray();
            if (list.Length > 16) throw a.Error("rt: too many addresses (at most 16)");
            _m = _m with { Type0Addresses = list };
        });
        Flag("rt-0-not-strict", _ =>
        {
            if (_m.Type0Addresses.IsEmpty) throw Error("rt: `--rt-0-addrs ...' should be before `--rt-0-not-strict'");
            _m = _m with { Type0NotStrict = true };
        });
    }

    private void RequireType0(string option)
    {
        if (_m.Type is not { Value: 0, Negated: false }) throw Error($"`--rt-type 0' required before `{option}'");
    }

    public override MatchExtension Finish(RuleContext context) => _m;
}
