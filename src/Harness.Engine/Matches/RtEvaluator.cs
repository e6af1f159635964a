using Harness.Engine.Walk;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m rt (ip6t_rt), IPv6 only: the packet's first routing header (none: no match, whatever the negations). Segments
/// left in a range, type and length (in bytes, (hdr ext len + 1) × 8) equal, each negatable; --rt-0-res wants the 32
/// reserved bits zero; --rt-0-addrs compares the header's address list: strictly (exactly these addresses, in this
/// order, and no others) or, with --rt-0-not-strict, as an ordered subsequence of the header's addresses.
/// </summary>
public sealed class RtEvaluator(RtMatch m) : MatchEvaluator
{
    public static MatchEvaluator Create(RtMatch m, CompileContext c) =>
        c.Family == Family.IPv6 ? new RtEvaluator(m) : throw c.Error("-m rt is an IPv6 (ip6tables) match");

    public override bool Matches(PacketState state)
    {
        if (state.Ip.RoutingHeader is not { } rh)
        {
            // ip6t_rt drops a packet whose routing header is cut short (or runs past the payload), or whose extension
            // headers cannot be walked as far as one (ipv6_find_hdr: -EBADMSG).
            if (state.Ip.CutExtensionHeader == IpProtocol.Ipv6Route || state.Ip.MetaL4Protocol < 0)
                state.HotDrop = TransportFields.HotDropReason("rt", state);
            return false;
        }
        if (m.SegmentsLeft is { } s && !s.Apply(s.Value.Contains(rh.SegmentsLeft))) return false;
        if (m.Length is { } l && !l.Apply(l.Value == (uint)rh.Length)) return false;
        if (m.Type is { } t && !t.Apply(t.Value == rh.Type)) return false;
        if (m.Type0Reserved && rh.Reserved != 0) return false;
        if (m.Type0Addresses.IsEmpty) return true;
        return m.Type0NotStrict ? ContainsInOrder(rh.Addresses) : rh.Addresses.AsSpan().SequenceEqual(m.Type0Addresses.AsSpan());
    }

    /// <summary>The rule's addresses appear in the header's list in the same order, others allowed in between.</summary>
    private bool ContainsInOrder(System.Collections.Immutable.ImmutableArray<Address> header)
    {
        var wanted = m.Type0Addresses;
        if (wanted.Length > header.Length) return false;
        int found = 0;
        foreach (var a in header)
        {
            if (a == wanted[found] && ++found == wanted.Length) return true;
        }
        return false;
    }
}
