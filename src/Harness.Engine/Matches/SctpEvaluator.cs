using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m sctp (xt_sctp): ports, and --chunk-types any/all/only walking the packet's chunks in order. A listed chunk type
/// with flags (DATA:Be) counts only when (chunk flags AND mask) equals the flags asked for; the flags of one type
/// listed twice are merged, as iptables does. Never a non-first fragment. A walk that meets a zero-length or cut chunk
/// header drops the packet on the spot (the kernel's hotdrop: see <see cref="PacketState.HotDrop"/>).
/// </summary>
public sealed class SctpEvaluator : MatchEvaluator
{
    private readonly SctpMatch _m;
    private readonly SctpChunkMatch _mode;
    private readonly bool _testChunks;

    /// <summary>The chunk types listed (the kernel's chunkmap), one bit per type.</summary>
    private readonly ulong[] _listed = new ulong[4];

    /// <summary>Per chunk type: the flag bits tested, and their required values (mask 0: no flag test).</summary>
    private readonly byte[] _flagMask = new byte[256], _flagValue = new byte[256];

    private SctpEvaluator(SctpMatch m)
    {
        _m = m;
        if (m.ChunkTypes is not { } ct) return;
        _testChunks = true;
        _mode = ct.Value.Mode;
        foreach (var c in ct.Value.Chunks)
        {
            _listed[c.Type >> 6] |= 1UL << (c.Type & 63);
            _flagMask[c.Type] |= c.FlagMask;
            _flagValue[c.Type] |= c.Flags;
        }
    }

    public static MatchEvaluator Create(SctpMatch m, CompileContext c) => new SctpEvaluator(m);

    public override (byte Protocol, ushort Port)? ExactDestinationPort =>
        _m.DestinationPorts is { Negated: false } d && d.Value.IsSingle ? (IpProtocol.Sctp, d.Value.First) : null;

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment) return false;
        if (state.Packet.Transport is not SctpHeader sctp)
        {
            // xt_sctp wants the 12-byte common header, else hotdrop (iptables-nft keeps -m sctp as the xt match).
            if (TransportFields.IsShort(state) && state.Ip.Protocol == IpProtocol.Sctp)
                state.HotDrop = TransportFields.HotDropReason("sctp", state);
            return false;
        }
        if (_m.SourcePorts is { } s && !s.Apply(s.Value.Contains(sctp.SourcePort))) return false;
        if (_m.DestinationPorts is { } d && !d.Apply(d.Value.Contains(sctp.DestinationPort))) return false;
        if (_testChunks)
        {
            var hit = ChunksMatch(sctp);
            if (hit is null)
            {
                state.HotDrop = "sctp: malformed chunk (zero length or cut short): the match drops the packet";
                return false;
            }
            if (!_m.ChunkTypes!.Value.Apply(hit.Value)) return false;
        }
        return true;
    }

    private bool IsListed(byte type) => (_listed[type >> 6] & (1UL << (type & 63))) != 0;

    private bool FlagsFit(byte type, byte flags) => (flags & _flagMask[type]) == _flagValue[type];

    /// <summary>xt_sctp's match_packet; null where it would hot-drop the packet (malformed chunk list reached).</summary>
    private bool? ChunksMatch(SctpHeader sctp)
    {
        var types = sctp.ChunkTypes;
        var flags = sctp.ChunkFlags;
        // "all": the listed types not yet seen with fitting flags; as a bit set, copied only for this mode.
        ulong a0 = _listed[0], a1 = _listed[1], a2 = _listed[2], a3 = _listed[3];
        for (int i = 0; i < types.Length; i++)
        {
            byte type = types[i];
            bool fits = FlagsFit(type, i < flags.Length ? flags[i] : (byte)0);
            if (IsListed(type))
            {
                switch (_mode)
                {
                    case SctpChunkMatch.Any when fits:
                        return true;
                    case SctpChunkMatch.All when fits:
                        ulong bit = ~(1UL << (type & 63));
                        switch (type >> 6)
                        {
                            case 0: a0 &= bit; break;
                            case 1: a1 &= bit; break;
                            case 2: a2 &= bit; break;
                            default: a3 &= bit; break;
                        }
                        break;
                    case SctpChunkMatch.Only when !fits:
                        return false;
                }
            }
            else if (_mode == SctpChunkMatch.Only)
            {
                return false;
            }
        }
        if (sctp.ChunksMalformed) return null;
        return _mode switch
        {
            SctpChunkMatch.All => (a0 | a1 | a2 | a3) == 0,
            SctpChunkMatch.Any => false,
            _ => true,
        };
    }
}
