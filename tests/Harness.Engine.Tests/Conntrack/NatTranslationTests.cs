using Harness.Engine.Conntrack;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>Replies the engine generates (REJECT) and ICMPv6 errors, translated back through the binding.</summary>
public class NatTranslationTests
{
    [Fact]
    public void An_ICMP_error_generated_for_a_DNATed_packet_leaves_from_the_public_address()
    {
        var table = Table();
        var syn = Tcp(0, "198.51.100.7", 40000, "203.0.113.1", 80, TcpFlags.Syn, 1, 0);
        var ct = table.Process(syn, Hook.Prerouting);
        table.SetupNat(ct, NatManipType.Destination, Router.To("10.0.0.2", 8080));
        var dnated = table.ApplyNat(ct, syn, NatManipType.Destination);
        Assert.Equal("198.51.100.7:40000>10.0.0.2:8080", Flow(dnated));

        // FORWARD rejects it: the reject is built from the packet as it is now (DNATed) and sent from the firewall.
        var reject = PacketBuilder.IcmpError(dnated, 3, 3, A("198.51.100.1"));
        var rct = table.ForGeneratedReply(ct, Hook.Output, T(0));
        Assert.Equal((CtState.Related, CtDirection.Reply), (rct.State, rct.Direction));
        Assert.False(table.NeedsNat(rct, NatManipType.Destination));
        var outPacket = table.ApplyNat(rct, table.ApplyNat(rct, reject, NatManipType.Destination), NatManipType.Source);
        var quoted = ((IcmpHeader)outPacket.Transport!).Quoted!;
        Assert.Equal(A("203.0.113.1"), quoted.Ip.Destination); // the client sees its own packet, to the public address
        Assert.Equal(80, ((TcpHeader)quoted.Transport!).DestinationPort);
        Assert.Equal(A("198.51.100.7"), outPacket.Ip!.Destination);
        Assert.True(Redecoded(outPacket).Transport!.ChecksumValid);
    }

    [Fact]
    public void A_TCP_reset_generated_for_a_DNATed_packet_comes_from_the_public_address_and_port()
    {
        var table = Table();
        var syn = Tcp(0, "198.51.100.7", 40000, "203.0.113.1", 80, TcpFlags.Syn, 1, 0);
        var ct = table.Process(syn, Hook.Prerouting);
        table.SetupNat(ct, NatManipType.Destination, Router.To("10.0.0.2", 8080));
        var dnated = table.ApplyNat(ct, syn, NatManipType.Destination);
        var rst = PacketBuilder.TcpReset(dnated);
        var rct = table.ForGeneratedReply(ct, Hook.Output, T(0));
        var outPacket = table.ApplyNat(rct, table.ApplyNat(rct, rst, NatManipType.Destination), NatManipType.Source);
        Assert.Equal("203.0.113.1:80>198.51.100.7:40000", Flow(outPacket));
        Assert.True(Redecoded(outPacket).Transport!.ChecksumValid);
        Assert.True(table.Confirm(rct, outPacket));
        Assert.Empty(table.Entries); // a reply never confirms the unconfirmed entry of a rejected packet
    }

    [Fact]
    public void ICMPv6_packet_too_big_for_a_masqueraded_flow_is_RELATED_and_rewritten()
    {
        var table = Table();
        var p = Udp(0, "fd00::5", 5353, "2001:db8::53", 53, new string('x', 100));
        var ct = table.Process(p, Hook.Prerouting);
        table.SetupNullBinding(ct, NatManipType.Destination);
        table.SetupNat(ct, NatManipType.Source, new NatRange(A("2001:db8:1::1"), A("2001:db8:1::1"), null, null));
        var sent = table.ApplyNat(ct, p, NatManipType.Source);
        table.Confirm(ct, sent);

        var error = PacketBuilder.IcmpError(sent, 2, 0, A("2001:db8::fe"), mtu: 1280) with { Time = T(0.1) };
        var rct = table.Process(error, Hook.Prerouting);
        Assert.Equal((CtState.Related, CtDirection.Reply), (rct.State, rct.Direction));
        var back = table.ApplyNat(rct, error, NatManipType.Destination);
        Assert.Equal(A("fd00::5"), back.Ip!.Destination);
        var again = Redecoded(back);
        Assert.True(again.Transport!.ChecksumValid, "ICMPv6 checksum after translation");
        Assert.Equal(A("fd00::5"), ((IcmpHeader)again.Transport).Quoted!.Ip.Source);
    }

    [Fact]
    public void ICMP_error_with_an_outer_destination_other_than_the_connections_is_INVALID()
    {
        var table = Table();
        var p = Udp(0, "10.0.0.5", 5353, "192.0.2.53", 53);
        var ct = table.Process(p, Hook.Prerouting);
        table.Confirm(ct, p);
        var bogus = PacketBuilder.IcmpError(p, 3, 3, A("192.0.2.53")) with { Time = T(0.1) };
        bogus = bogus with { Ip = bogus.Ip! with { Destination = A("10.0.0.99") } };
        var rct = table.Process(bogus, Hook.Prerouting);
        Assert.Equal(CtState.Invalid, rct.State);
        Assert.Contains("outer daddr", rct.InvalidReason);
    }

    [Fact]
    public void The_outcome_view_carries_states_tuples_and_the_NAT_text()
    {
        var r = new Router(Table()) { Dnat = p => Router.To("10.0.0.2", 8080) };
        var first = r.Forward(Tcp(0, "198.51.100.7", 40000, "203.0.113.1", 80, TcpFlags.Syn, 1, 0));
        var view = first.Ct.ToView();
        Assert.Equal("NEW", view.StateSeen);
        Assert.Equal(("NONE", "SYN_SENT"), (view.TcpStateBefore, view.TcpStateAfter));
        Assert.Equal((null, "NEW"), (view.StateBefore, view.StateAfter));
        Assert.Equal("src=198.51.100.7 dst=203.0.113.1 sport=40000 dport=80", view.Original!.ToString());
        Assert.Equal("src=10.0.0.2 dst=198.51.100.7 sport=8080 dport=40000", view.Reply!.ToString());
        Assert.Equal("dst 203.0.113.1:80->10.0.0.2:8080", view.Nat);

        var second = r.Forward(Tcp(0.01, "10.0.0.2", 8080, "198.51.100.7", 40000, TcpFlags.Syn | TcpFlags.Ack, 9, 2)).Ct.ToView();
        Assert.Equal(("ESTABLISHED", "NEW", "ESTABLISHED"), (second.StateSeen, second.StateBefore, second.StateAfter));
        Assert.Equal("src 10.0.0.2:8080->203.0.113.1:80", second.Nat);
    }

    [Fact]
    public void UDP_Lite_is_tracked_by_ports_and_NAT_keeps_its_checksum_right()
    {
        static Packet Lite(double t, string src, ushort sport, string dst, ushort dport)
        {
            var segment = new byte[8 + 4];
            segment[0] = (byte)(sport >> 8); segment[1] = (byte)sport; segment[2] = (byte)(dport >> 8); segment[3] = (byte)dport;
            segment[5] = 8; // checksum coverage: the header
            "abcd"u8.CopyTo(segment.AsSpan(8));
            var sum = InternetChecksum.Transport(A(src), A(dst), IpProtocol.UdpLite, segment);
            segment[6] = (byte)(sum >> 8); segment[7] = (byte)sum;
            var ip = new IpHeader { Family = Family.IPv4, Source = A(src), Destination = A(dst), Protocol = IpProtocol.UdpLite, Ttl = 64, TotalLength = 0, HeaderLength = 0 };
            return PacketBuilder.Create(1, T(t), ip, new OtherTransport(IpProtocol.UdpLite), segment);
        }
        var table = Table();
        var p = Lite(0, "10.0.0.5", 7000, "192.0.2.1", 7001);
        var ct = table.Process(p, Hook.Prerouting);
        Assert.Equal((ushort)7000, ct.Entry!.Original.SourcePort);
        table.SetupNat(ct, NatManipType.Source, new NatRange(A("203.0.113.1"), A("203.0.113.1"), 9000, 9000));
        var outPacket = table.ApplyNat(ct, p, NatManipType.Source);
        table.Confirm(ct, outPacket);
        var seg = outPacket.Raw.Span[20..].ToArray();
        Assert.Equal(9000, seg[0] << 8 | seg[1]);
        ushort stored = (ushort)(seg[6] << 8 | seg[7]);
        seg[6] = 0; seg[7] = 0;
        Assert.Equal(InternetChecksum.Transport(A("203.0.113.1"), A("192.0.2.1"), IpProtocol.UdpLite, seg), stored);
        var reply = table.Process(Lite(0.1, "192.0.2.1", 7001, "203.0.113.1", 9000), Hook.Prerouting);
        Assert.Equal((CtState.Established, CtDirection.Reply), (reply.State, reply.Direction));
    }
}
