using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m tcp (xt_tcpudp tcp_mt): never matches a non-first fragment; ports as inclusive ranges, each negatable;
/// --tcp-flags as (flags AND mask) == compare; --tcp-option by walking the option kinds.
/// </summary>
public sealed class TcpEvaluator(TcpMatch match) : MatchEvaluator
{
    private readonly Negatable<PortRange>? _sport = match.SourcePorts;
    private readonly Negatable<PortRange>? _dport = match.DestinationPorts;
    private readonly Negatable<TcpFlagsTest>? _flags = match.Flags;
    private readonly Negatable<byte>? _option = match.Option;

    public static MatchEvaluator Create(TcpMatch match, CompileContext context) => new TcpEvaluator(match);

    public override (byte Protocol, ushort Port)? ExactDestinationPort =>
        _dport is { Negated: false } d && d.Value.IsSingle ? (IpProtocol.Tcp, d.Value.First) : null;

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment || state.Packet.Transport is not TcpHeader tcp) return false;
        if (_sport is { } s && !s.Apply(s.Value.Contains(tcp.SourcePort))) return false;
        if (_dport is { } d && !d.Apply(d.Value.Contains(tcp.DestinationPort))) return false;
        if (_flags is { } f && !f.Apply(((byte)tcp.Flags & (byte)f.Value.Mask) == (byte)f.Value.Compare)) return false;
        if (_option is { } o && !o.Apply(HasOption(tcp.Options.Span, o.Value))) return false;
        return true;
    }

    /// <summary>tcp_find_option: kinds 0 and 1 are one byte long, the others carry their length.</summary>
    public static bool HasOption(ReadOnlySpan<byte> options, byte kind)
    {
        for (int i = 0; i < options.Length;)
        {
            if (options[i] == kind) return true;
            if (options[i] < 2) { i++; continue; }
            int len = i + 1 < options.Length ? options[i + 1] : 0;
            i += len == 0 ? 1 : len;
        }
        return false;
    }
}
