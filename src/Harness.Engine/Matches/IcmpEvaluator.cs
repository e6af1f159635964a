using Harness.Net;
using Harness.Engine.Walk;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m icmp (ipt icmp_match) and -m icmp6 (icmp6_match): type 255 means any type; otherwise the type and a code
/// range. Never a non-first fragment. A header shorter than 8 bytes drops the packet (hotdrop).
/// </summary>
public sealed class IcmpEvaluator(Negatable<IcmpTypeTest> test, bool v6) : MatchEvaluator
{
    public static MatchEvaluator Create(IcmpMatch match, CompileContext context) => new IcmpEvaluator(match.TypeTest, false);

    public static MatchEvaluator Create6(Icmp6Match match, CompileContext context) => new IcmpEvaluator(match.TypeTest, true);

    public override bool Matches(PacketState state)
    {
        if (state.Ip.IsLaterFragment) return false;
        if (state.Packet.Transport is not IcmpHeader icmp || icmp.IsV6 != v6)
        {
            // icmp_match / icmp6_match (kept as xt matches by iptables-nft) want the 8-byte header, else hotdrop.
            if (TransportFields.IsShort(state) && state.Ip.Protocol == (v6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp))
                state.HotDrop = TransportFields.HotDropReason(v6 ? "icmp6" : "icmp", state);
            return false;
        }
        var t = test.Value;
        bool positive = t.Type == 0xFF || (icmp.Type == t.Type && icmp.Code >= t.MinCode && icmp.Code <= t.MaxCode);
        return test.Apply(positive);
    }
}
