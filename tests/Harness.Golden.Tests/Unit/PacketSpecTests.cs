using Harness.Golden.Replay;
using Harness.Net;
using Harness.Packets;

namespace Harness.Golden.Tests;

public class PacketSpecTests
{
    [Fact]
    public void Tcp_spec_gives_addresses_ports_flags_and_interface()
    {
        var p = PacketSpec.Parse("tcp 10.1.0.2:40000 -> 10.2.0.2:80 syn,ack in lan0 at 5.5 ttl 9", 3);
        Assert.Equal(3, p.Number);
        Assert.Equal("lan0", p.Interface);
        Assert.Equal(PacketDirection.Inbound, p.Direction);
        Assert.Equal(Timestamp.FromSeconds(5.5), p.Time);
        Assert.Equal((Address.Parse("10.1.0.2"), Address.Parse("10.2.0.2"), (byte)9), (p.Ip!.Source, p.Ip.Destination, p.Ip.Ttl));
        var tcp = Assert.IsType<TcpHeader>(p.Transport);
        Assert.Equal((40000, 80, TcpFlags.Syn | TcpFlags.Ack), (tcp.SourcePort, tcp.DestinationPort, tcp.Flags));
        Assert.True(tcp.ChecksumValid);
    }

    [Fact]
    public void Icmp_and_ipv6_specs()
    {
        var echo = PacketSpec.Parse("icmp 10.1.0.2 -> 10.1.0.1 echo-request in lan0");
        Assert.Equal((byte)8, Assert.IsType<IcmpHeader>(echo.Transport).Type);
        var unreachable = PacketSpec.Parse("icmp 10.1.0.2 -> 10.1.0.1 type 3 code 1");
        Assert.Equal(((byte)3, (byte)1), (((IcmpHeader)unreachable.Transport!).Type, ((IcmpHeader)unreachable.Transport!).Code));
        Assert.Null(unreachable.Interface);
        var v6 = PacketSpec.Parse("udp [fd00::2]:5353 -> [fd00::1]:53 in lan0");
        Assert.Equal(Family.IPv6, v6.Ip!.Family);
        Assert.Equal(53, Assert.IsType<UdpHeader>(v6.Transport).DestinationPort);
    }

    [Theory]
    [InlineData("tcp 10.1.0.2:40000 10.2.0.2:80", "expected '->'")]
    [InlineData("tcp 10.1.0.2:99999 -> 10.2.0.2:80", "invalid port '99999'")]
    [InlineData("tcp 10.1.0.2:1 -> 10.2.0.2:80 bogus", "unknown TCP flag 'bogus'")]
    [InlineData("gre 10.1.0.2 -> 10.2.0.2", "unsupported protocol 'gre'")]
    [InlineData("icmp 10.1.0.2:5 -> 10.2.0.2", "ICMP has no ports")]
    [InlineData("udp 10.1.0.2:1 -> [fd00::1]:2", "different families")]
    [InlineData("tcp 10.1.0.2:1 -> 10.2.0.2:2 in", "expected an interface name")]
    public void Bad_specs_say_what_is_wrong(string spec, string expected)
    {
        var e = Assert.Throws<FormatException>(() => PacketSpec.Parse(spec));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith($"packet \"{spec}\": ", e.Message);
    }
}
