using Harness.Engine.Matches;
using Harness.Engine.Targets;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Walk;

/// <summary>How a compiled rule's target acts.</summary>
public enum RuleAction
{
    /// <summary>No -j: the rule only counts.</summary>
    None,
    Accept,
    Drop,
    Return,
    Queue,
    Jump,
    Goto,
    Extension,
}

/// <summary>
/// One rule ready to run: the -s/-d/-i/-o/-p/-f tests unpacked into fields, the match evaluators in order and the
/// target. Counters live here (iptables -L -v).
/// </summary>
public sealed class CompiledRule
{
    private readonly bool _hasSource, _sourceNegated, _hasDestination, _destinationNegated;
    private readonly UInt128 _sourceMask, _sourceValue, _destinationMask, _destinationValue;
    private readonly Negatable<InterfaceName>? _in, _out;
    private readonly byte _protocol;
    private readonly bool _protocolNegated;
    private readonly bool _hasProtocol; // -p given (the parser reads "-p all" as none)
    private readonly Negatable<bool>? _fragment;
    private readonly MatchEvaluator[] _matches;

    public CompiledRule(Rule rule, int index, MatchEvaluator[] matches, RuleAction action, TargetEvaluator? target)
    {
        Rule = rule;
        Index = index;
        _matches = matches;
        Action = action;
        Target = target;
        var ip = rule.Ip;
        if (ip.Source is { } s && s.Value.PrefixLength > 0)
        {
            _hasSource = true; _sourceNegated = s.Negated; _sourceMask = s.Value.Mask; _sourceValue = s.Value.Address.Value & _sourceMask;
        }
        else if (ip.Source is { Negated: true })
        {
            _hasSource = true; _sourceNegated = true; // ! -s 0/0 never matches
        }
        if (ip.Destination is { } d && d.Value.PrefixLength > 0)
        {
            _hasDestination = true; _destinationNegated = d.Negated; _destinationMask = d.Value.Mask; _destinationValue = d.Value.Address.Value & _destinationMask;
        }
        else if (ip.Destination is { Negated: true })
        {
            _hasDestination = true; _destinationNegated = true;
        }
        _in = ip.InInterface;
        _out = ip.OutInterface;
        if (ip.Protocol is { } p) { _protocol = p.Value; _protocolNegated = p.Negated; _hasProtocol = true; }
        _fragment = ip.Fragment;
        Id = rule.Id;
        SourceLine = rule.Source.Line > 0 ? rule.Source.Line : null;
        SourceText = rule.Source.Line > 0 ? $"{rule.Source.File}:{rule.Source.Line.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : null;
        if (ip.Destination is { Negated: false } dd && dd.Value.PrefixLength == dd.Value.Address.BitLength) ExactDestination = dd.Value.Address.Value;
        if (_protocol != 0 && !_protocolNegated) ExactProtocol = _protocol;
        if (ip.InInterface is { Negated: false } ii && !ii.Value.IsWildcard) ExactInInterface = ii.Value.Text;
        foreach (var m in matches)
            if (m.ExactDestinationPort is { } dp && (ExactProtocol is null || ExactProtocol == dp.Protocol))
                ExactDestinationPort = dp;
    }

    public Rule Rule { get; }

    /// <summary>0-based position in the chain.</summary>
    public int Index { get; }

    public RuleAction Action { get; }

    public TargetEvaluator? Target { get; }

    /// <summary>For <see cref="RuleAction.Jump"/> and <see cref="RuleAction.Goto"/>; set after every chain is compiled.</summary>
    public CompiledChain? JumpTo { get; set; }

    public int? SourceLine { get; }

    public string? SourceText { get; }

    // Keys for the compiled walk's candidate index.
    public UInt128? ExactDestination { get; }
    public byte? ExactProtocol { get; }
    public (byte Protocol, ushort Port)? ExactDestinationPort { get; }
    public string? ExactInInterface { get; }

    public long Packets;
    public long Bytes;

    /// <summary>"table:chain:N", computed once.</summary>
    public string Id { get; }

    private readonly PathStep?[] _steps = new PathStep?[5];

    /// <summary>The path step "this rule matched at this hook" (immutable, so made once per hook and shared).</summary>
    public PathStep StepAt(Hook hook) =>
        _steps[(int)hook] ??= new PathStep(hook, Rule.Table, Rule.Chain, Rule.Number, null, SourceLine);

    /// <summary>The -s -d -i -o -p -f tests then every match, in order, stopping at the first that fails.</summary>
    public bool Matches(PacketState state)
    {
        var ip = state.Ip;
        if (_hasSource && (((ip.Source.Value & _sourceMask) == _sourceValue) == _sourceNegated)) return false;
        if (_hasDestination && (((ip.Destination.Value & _destinationMask) == _destinationValue) == _destinationNegated)) return false;
        if (_in is { } i && !i.Apply(InterfaceMatches(i.Value, state.InInterface))) return false;
        if (_out is { } o && !o.Apply(InterfaceMatches(o.Value, state.OutInterface))) return false;
        if (_hasProtocol && !ProtocolMatches(state)) return false;
        if (_fragment is { } f && !f.Apply(ip.IsLaterFragment)) return false;
        var matches = _matches;
        for (int m = 0; m < matches.Length; m++)
            if (!matches[m].Matches(state)) return false;
        return true;
    }

    /// <summary>
    /// -p with iptables-nft is meta l4proto: for IPv6 it stops at AH, and without one (extension headers it cannot walk)
    /// -p and ! -p both fail. With iptables-legacy, IPv6: ip6_tables walks through AH, and a walk that fails drops the
    /// packet at any -p rule, negated or not (hotdrop). IPv4 compares the header's protocol field in both.
    /// </summary>
    private bool ProtocolMatches(PacketState state)
    {
        var ip = state.Ip;
        if (state.Runtime.Backend == IptablesBackend.Legacy && ip.Family == Family.IPv6)
        {
            int legacy = ip.LegacyL4Protocol;
            if (legacy < 0)
            {
                state.HotDrop = "-p: ip6_tables finds no protocol behind the IPv6 extension headers ("
                    + (state.Packet.TransportError ?? "a later fragment names another extension header") + "): the rule drops the packet";
                return false;
            }
            return _protocol == 0 || (legacy == _protocol) != _protocolNegated;
        }
        return _protocol == 0 || (ip.MetaL4Protocol >= 0 && (ip.MetaL4Protocol == _protocol) != _protocolNegated);
    }

    /// <summary>The kernel's interface test: exact, or a prefix for "name+"; a missing interface is the empty name.</summary>
    public static bool InterfaceMatches(InterfaceName pattern, string? name)
    {
        var text = pattern.Text;
        name ??= "";
        if (text.EndsWith('+')) return name.AsSpan().StartsWith(text.AsSpan(0, text.Length - 1), StringComparison.Ordinal);
        return string.Equals(name, text, StringComparison.Ordinal);
    }

    public void Count(Packet packet)
    {
        Packets++;
        Bytes += packet.Ip?.TotalLength ?? packet.Raw.Length;
    }

    public override string ToString() => Id;
}
