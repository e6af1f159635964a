using System.Buffers.Binary;
using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// -j TCPMSS (xt_TCPMSS) on SYN segments: lowers an MSS option above the new value (--set-mss N, or the egress
/// interface's MTU minus 40 / 60 bytes of headers with --clamp-mss-to-pmtu), the TCP checksum updated incrementally;
/// a SYN without an MSS option gets one (the smaller of the new value and the protocol default 536 / 1220), growing
/// the header by 4 bytes. Other segments are left alone. Continues; a segment with a short or inconsistent header
/// is dropped.
/// </summary>
public sealed class TcpmssTargetEvaluator(TcpmssTarget t) : TargetEvaluator
{
    public static TargetEvaluator Create(TcpmssTarget t, Matches.CompileContext c) => new TcpmssTargetEvaluator(t);

    /// <summary>min(dst_mtu of the packet's route, dst_mtu of the route back to its source), as tcpmss_mangle_packet takes it.</summary>
    private static int PathMtu(PacketState state)
    {
        var runtime = state.Runtime;
        int outMtu = state.Route is { } route && Mtu.Of(runtime, route, state.Family, forwardCheck: false) is int viaRoute
            ? viaRoute
            : state.OutInterface is { } o ? runtime.Interface(o)?.Mtu ?? 1500 : 1500;
        var back = runtime.Fib.Lookup(state.Ip.Source, null, 0, null);
        int inMtu = Mtu.Of(runtime, back, state.Family, forwardCheck: false) ?? int.MaxValue;
        return Math.Min(outMtu, inMtu);
    }

    public override TargetVerdict Execute(PacketState state)
    {
        // tcpmss_mangle_packet refuses (NF_DROP) a segment shorter than 20 bytes or whose data offset is below 20 or
        // past its end, whatever its flags.
        if (!state.Ip.IsLaterFragment && state.Ip.Protocol == IpProtocol.Tcp && state.Packet.TransportError is not null)
            return TargetVerdict.Drop;
        if (state.Packet.Transport is not TcpHeader tcp || (tcp.Flags & Harness.Net.TcpFlags.Syn) == 0 || state.Ip.IsLaterFragment)
            return TargetVerdict.Continue;
        bool v6 = state.Family == Family.IPv6;
        int newMss;
        if (t.Mss is { } fixedMss) newMss = fixedMss;
        else
        {
            // --clamp-mss-to-pmtu: the smaller of the route's MTU out and the MTU of the route back to the source
            // (tcpmss_reverse_mtu); a path MTU no larger than the headers drops the segment.
            int headers = v6 ? 60 : 40;
            int pathMtu = PathMtu(state);
            if (pathMtu <= headers) return TargetVerdict.Drop;
            newMss = pathMtu - headers;
        }
        var options = tcp.Options.Span;
        int at = FindMss(options);
        if (at >= 0)
        {
            int old = BinaryPrimitives.ReadUInt16BigEndian(options.Slice(at + 2, 2));
            if (old <= newMss) return TargetVerdict.Continue;
            state.Rewrite(PatchMss(state.Packet, tcp, at, (ushort)newMss));
            return TargetVerdict.Continue;
        }
        int value = Math.Min(newMss, v6 ? 1220 : 536);
        byte[] added = [2, 4, (byte)(value >> 8), (byte)value];
        var grown = tcp with { Options = (byte[])[.. options, .. added], HeaderLength = tcp.HeaderLength + 4 };
        var payload = state.Packet.Raw.Length >= state.Ip.HeaderLength + tcp.HeaderLength
            ? state.Packet.Raw.Span[(state.Ip.HeaderLength + tcp.HeaderLength)..]
            : new byte[state.Packet.PayloadLength];
        var rebuilt = PacketBuilder.Create(state.Packet.Number, state.Packet.Time, state.Ip, grown, payload,
            state.Packet.Interface, state.Packet.Direction, state.Packet.Link);
        state.Rewrite(rebuilt);
        return TargetVerdict.Continue;
    }

    private static int FindMss(ReadOnlySpan<byte> options)
    {
        for (int i = 0; i < options.Length;)
        {
            if (options[i] == 0) return -1;
            if (options[i] == 1) { i++; continue; }
            if (i + 1 >= options.Length || options[i + 1] < 2) return -1;
            if (options[i] == 2 && options[i + 1] == 4 && i + 4 <= options.Length) return i;
            i += options[i + 1];
        }
        return -1;
    }

    private static Packet PatchMss(Packet packet, TcpHeader tcp, int optionOffset, ushort mss)
    {
        var newOptions = tcp.Options.ToArray();
        ushort oldMss = BinaryPrimitives.ReadUInt16BigEndian(newOptions.AsSpan(optionOffset + 2));
        BinaryPrimitives.WriteUInt16BigEndian(newOptions.AsSpan(optionOffset + 2), mss);
        var raw = packet.Raw;
        int l4 = packet.Ip!.HeaderLength;
        if (raw.Length >= l4 + 20 + optionOffset + 4)
        {
            var buf = raw.ToArray();
            int at = l4 + 20 + optionOffset + 2;
            BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(at), mss);
            // RFC 1624 on the TCP checksum (bytes 16-17 of the TCP header); a word boundary is guaranteed only when
            // the option starts on an even offset, else the two affected words are updated.
            if (((optionOffset + 2) & 1) == 0) UpdateChecksum(buf, l4 + 16, oldMss, mss);
            else
            {
                UpdateChecksum(buf, l4 + 16, (ushort)(raw.Span[at - 1] << 8 | (oldMss >> 8)), (ushort)(buf[at - 1] << 8 | buf[at]));
                UpdateChecksum(buf, l4 + 16, (ushort)((oldMss & 0xFF) << 8 | raw.Span[at + 2]), (ushort)(buf[at + 1] << 8 | buf[at + 2]));
            }
            return packet with { Transport = tcp with { Options = newOptions }, Raw = buf };
        }
        return packet with { Transport = tcp with { Options = newOptions } };
    }

    private static void UpdateChecksum(byte[] buf, int at, ushort oldWord, ushort newWord)
    {
        uint hc = BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(at));
        uint sum = (~hc & 0xFFFF) + (~(uint)oldWord & 0xFFFF) + newWord;
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(at), (ushort)~sum);
    }
}
