using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m tcp (xt_tcpudp tcp_mt): never matches a non-first fragment; ports as inclusive ranges, each negatable;
/// --tcp-flags as (flags AND mask) == compare; --tcp-option by walking the option kinds.
/// <para>
/// A packet with a short TCP header (<see cref="Packet.TransportError"/>) is judged as iptables-nft loads the rule
/// (iptables 1.8.9, measured on kernel 6.18): without --tcp-option the ports and flags become nft payload
/// expressions that read only their own bytes (source port: 2 bytes, destination port: 4, flags: 14) and make the rule
/// not match when the packet ends first; with --tcp-option the whole match stays xt_tcp, which drops the packet
/// (hotdrop) when the 20-byte header is missing, and when the data offset is below 20 or runs past the segment
/// before it can look for the option.
/// </para>
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
        if (state.Ip.IsLaterFragment)
        {
            // iptables-legacy's tcp_mt drops a fragment at offset 1 (8 bytes in: it would overwrite the flags).
            if (state.Ip.FragmentOffset == 1 && state.Runtime.Backend == IptablesBackend.Legacy)
                state.HotDrop = "tcp: a fragment at offset 8 bytes (iptables-legacy's xt_tcp drops it)";
            return false;
        }
        if (state.Packet.Transport is not TcpHeader tcp)
        {
            if (!TransportFields.IsShort(state)) return false;
            if (_option is not null || state.Runtime.Backend == IptablesBackend.Legacy)
            {
                state.HotDrop = TransportFields.HotDropReason("tcp", state);
                return false;
            }
            return ShortHeaderMatches(state);
        }
        if (_sport is { } s && !s.Apply(s.Value.Contains(tcp.SourcePort))) return false;
        if (_dport is { } d && !d.Apply(d.Value.Contains(tcp.DestinationPort))) return false;
        if (_flags is { } f && !f.Apply(((byte)tcp.Flags & (byte)f.Value.Mask) == (byte)f.Value.Compare)) return false;
        if (_option is { } o)
        {
            if (tcp.HeaderLength < 20 || tcp.HeaderLength > state.Ip.TotalLength - state.Ip.HeaderLength)
            {
                state.HotDrop = TransportFields.HotDropReason("tcp --tcp-option", state);
                return false;
            }
            if (!o.Apply(HasOption(tcp.Options.Span, o.Value))) return false;
        }
        return true;
    }

    /// <summary>nft's payload reads on a header shorter than 20 bytes: a field the packet does not reach fails the rule.</summary>
    private bool ShortHeaderMatches(PacketState state)
    {
        if (_sport is { } s && (TransportFields.U16(state, 0) is not { } sp || !s.Apply(s.Value.Contains(sp)))) return false;
        if (_dport is { } d && (TransportFields.U16(state, 2) is not { } dp || !d.Apply(d.Value.Contains(dp)))) return false;
        if (_flags is { } f && (TransportFields.U8(state, 13) is not { } flags || !f.Apply((flags & (byte)f.Value.Mask) == (byte)f.Value.Compare))) return false;
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
