using Harness.Net;
using Harness.Oracle.Kernel;
using Harness.Packets;

namespace Harness.Oracle.Tests;

/// <summary>
/// The oracle words the NAT it sees between the arriving and the leaving headers as the engine words the manips. An
/// echo's id is one field the trace shows as both "ports": its change goes with the source manip unless only the
/// destination address changed (found by the wide fuzz, seed 11: an id clash under SNAT was also named as a "dst" change).
/// </summary>
public class NatTextTests
{
    private static Packet Echo(string src, string dst, ushort id, bool reply = false)
    {
        var ip = new IpHeader
        {
            Family = Family.IPv4, Source = Address.Parse(src), Destination = Address.Parse(dst), Protocol = IpProtocol.Icmp,
            Ttl = 64, TotalLength = 0, HeaderLength = 20, Id = 1,
        };
        var icmp = new IcmpHeader(reply ? (byte)0 : (byte)8, 0, IsV6: false) { Identifier = id };
        return PacketDecoder.Decode(PacketBuilder.Build(ip, icmp, []), 1, new Timestamp(1), "eth0");
    }

    [Fact]
    public void An_echo_id_remapped_by_SNAT_is_named_with_the_source_change_only()
    {
        Assert.Equal("src 10.1.0.2 id 40001->10.0.0.1 id 34804",
            OutcomeBuilder.NatText(Echo("10.1.0.2", "10.1.0.3", 40001), Echo("10.0.0.1", "10.1.0.3", 34804)));
        // the reply, translated back: the destination manip
        Assert.Equal("dst 10.0.0.1 id 34804->10.1.0.2 id 40001",
            OutcomeBuilder.NatText(Echo("10.1.0.3", "10.0.0.1", 34804, reply: true), Echo("10.1.0.3", "10.1.0.2", 40001, reply: true)));
        // only the id changed (a clash under SNAT to the same address): the source manip
        Assert.Equal("src 10.1.0.2 id 40001->10.1.0.2 id 7",
            OutcomeBuilder.NatText(Echo("10.1.0.2", "10.1.0.3", 40001), Echo("10.1.0.2", "10.1.0.3", 7)));
        // DNAT and SNAT together, the id remapped by the SNAT
        Assert.Equal("dst 10.9.9.9 id 40001->10.1.0.3 id 40001; src 10.1.0.2 id 40001->10.0.0.1 id 5",
            OutcomeBuilder.NatText(Echo("10.1.0.2", "10.9.9.9", 40001), Echo("10.0.0.1", "10.1.0.3", 5)));
    }
}

/// <summary>known-differences.md's "nat-port-random" recognises a random port and a random ICMP echo id alike.</summary>
public class KnownDifferenceShapeTests
{
    [Theory]
    [InlineData("src 10.1.0.3:53->10.1.0.3:418", "src 10.1.0.3:53->10.1.0.3:281", "nat-port-random")]
    [InlineData("src 10.0.0.2 id 40001->10.0.0.1 id 10619", "src 10.0.0.2 id 40001->10.0.0.1 id 13443", "nat-port-random")]
    [InlineData("src 2001:db8::2 id 40001->2001:db8::1 id 10619", "src 2001:db8::2 id 40001->2001:db8::1 id 13443", "nat-port-random")]
    [InlineData("src 10.0.0.2 id 40001->10.0.0.1 id 10619", "src 10.0.0.2 id 40001->10.0.0.9 id 13443", null)]
    [InlineData("dst 10.1.0.3 id 40001->10.1.0.3 id 34804; src 10.1.0.2 id 40001->10.0.0.1 id 34804", "src 10.1.0.2 id 40001->10.0.0.1 id 10619", null)]
    public void A_random_port_or_echo_id_is_explained_and_nothing_else(string expected, string actual, string? category) =>
        Assert.Equal(category, KnownDifferences.Category(new Harness.Golden.Csv.CellDifference("3", "nat", expected, actual, "")));
}
