using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

public enum PolicyDirection
{
    In,
    Out,
}

public enum IpsecMode
{
    Transport,
    Tunnel,
}

/// <summary>One element of -m policy (between --next): each test null when not given.</summary>
public sealed record PolicyElement(
    Negatable<uint>? RequestId = null,
    Negatable<uint>? Spi = null,
    Negatable<byte>? Protocol = null,
    Negatable<IpsecMode>? Mode = null,
    Negatable<Cidr>? TunnelDestination = null,
    Negatable<Cidr>? TunnelSource = null);

/// <summary>-m policy: the IPsec policy the packet was (in) or will be (out) processed by.</summary>
public sealed record PolicyMatch(PolicyDirection Direction, bool Ipsec, bool Strict, ImmutableArray<PolicyElement> Elements) : MatchExtension
{
    public override string Name => "policy";

    public bool Equals(PolicyMatch? o) =>
        o is not null && Direction == o.Direction && Ipsec == o.Ipsec && Strict == o.Strict && Elements.SequenceEqual(o.Elements);

    public override int GetHashCode() => HashCode.Combine(Direction, Ipsec, Strict, Elements.Length);

    protected override void SaveOptions(SaveWriter w)
    {
        w.Word("--dir").Word(Direction == PolicyDirection.In ? "in" : "out");
        w.Word("--pol").Word(Ipsec ? "ipsec" : "none");
        if (Strict) w.Word("--strict");
        for (int i = 0; i < Elements.Length; i++)
        {
            var e = Elements[i];
            Printing.Negatable(w, "--reqid", e.RequestId, v => Values.Dec(v));
            Printing.Negatable(w, "--spi", e.Spi, v => Values.Hex(v));
            Printing.Negatable(w, "--proto", e.Protocol, p => ProtocolNames.Print(p, Family.IPv4));
            Printing.Negatable(w, "--mode", e.Mode, m => m == IpsecMode.Tunnel ? "tunnel" : "transport");
            Printing.Negatable(w, "--tunnel-dst", e.TunnelDestination, Printing.AddressMaybeMask);
            Printing.Negatable(w, "--tunnel-src", e.TunnelSource, Printing.AddressMaybeMask);
            if (i + 1 < Elements.Length) w.Word("--next");
        }
    }
}

public sealed class PolicyMatchParser : MatchParser
{
    private PolicyDirection? _dir;
    private bool? _ipsec;
    private bool _strict;
    private readonly List<PolicyElement> _elements = [];
    private PolicyElement _current = new();
    private bool _currentUsed;

    protected override string ExtensionName => "policy";

    public PolicyMatchParser(Family family)
    {
        On("dir", (_, a) =>
        {
            var t = a.Next("in|out");
            _dir = t == "in" ? PolicyDirection.In : t == "out" ? PolicyDirection.Out : throw a.Error($"policy: invalid direction \"{t}\"");
        });
        On("pol", (_, a) =>
        {
            var t = a.Next("none|ipsec");
            _ipsec = t == "ipsec" ? true : t == "none" ? false : throw a.Error($"policy: invalid policy \"{t}\"");
        });
        Flag("strict", _ => _strict = true);
        On("reqid", (inv, a) => Element(a, e => e with { RequestId = new(Values.UInt32(a, "policy"), inv) }), invert: true, repeat: true);
        On("spi", (inv, a) => Element(a, e => e with { Spi = new(Values.UInt32(a, "policy"), inv) }), invert: true, repeat: true);
        On("proto", (inv, a) => Element(a, e =>
        {
            var t = a.Next("esp|ah|ipcomp");
            if (!ProtocolNames.TryParse(t, out var p) || p is not (IpProtocol.Esp or IpProtocol.Ah or 108))
                throw a.Error($"policy: protocol must be ah, esp or ipcomp");
            return e with { Protocol = new(p, inv) };
        }), invert: true, repeat: true);
        On("mode", (inv, a) => Element(a, e =>
        {
            var t = a.Next("tunnel|transport");
            var m = t == "tunnel" ? IpsecMode.Tunnel : t == "transport" ? IpsecMode.Transport : throw a.Error($"policy: invalid mode \"{t}\"");
            return e with { Mode = new(m, inv) };
        }), invert: true, repeat: true);
        On("tunnel-src", (inv, a) => Element(a, e => e with { TunnelSource = new(Values.Cidr(a, a.Next("address"), family), inv) }), invert: true, repeat: true);
        On("tunnel-dst", (inv, a) => Element(a, e => e with { TunnelDestination = new(Values.Cidr(a, a.Next("address"), family), inv) }), invert: true, repeat: true);
        On("next", (_, a) =>
        {
            if (!_currentUsed) throw a.Error("policy: --next without any option before it");
            _elements.Add(_current);
            _current = new();
            _currentUsed = false;
        }, repeat: true);
    }

    private void Element(OptionArguments a, Func<PolicyElement, PolicyElement> change)
    {
        _current = change(_current);
        if (_elements.Count >= 4) throw a.Error("policy: maximum policy depth reached");
        _currentUsed = true;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_dir is not { } dir) throw Error("policy match: neither --dir in nor --dir out specified");
        if (_ipsec is not { } ipsec) throw Error("policy match: --pol must be specified");
        if (_currentUsed) _elements.Add(_current);
        if (!ipsec && _elements.Count > 0) throw Error("policy match: policy none but --strict or policy element given");
        if (_strict && _elements.Count == 0) throw Error("policy match: --strict given without any policy element");
        if (!_strict && _elements.Count > 1) throw Error("policy: option \"--next\" also requires \"--strict\".");
        foreach (var e in _elements)
            if ((e.TunnelSource is not null || e.TunnelDestination is not null) && e.Mode is not { Value: IpsecMode.Tunnel, Negated: false })
                throw Error("policy match: --tunnel-src/--tunnel-dst is only valid in tunnel mode");
        if (dir == PolicyDirection.In && context.Chain is TableNames.Output or TableNames.Postrouting)
            throw Error("policy match: input policy not valid in POSTROUTING and OUTPUT");
        if (dir == PolicyDirection.Out && context.Chain is TableNames.Prerouting or TableNames.Input)
            throw Error("policy match: output policy not valid in PREROUTING and INPUT");
        return new PolicyMatch(dir, ipsec, _strict, [.. _elements]);
    }
}
