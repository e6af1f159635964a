using Harness.Net;

namespace Harness.Packets.Tests;

public sealed class FlowLoaderTests
{
    private const string Valid = """
        flows:
          - kind: udp
            client: 10.0.0.1:5000
            server: 10.0.0.2:53
            ingress: eth0
        """;

    private static FlowFormatException Fails(string yaml) =>
        Assert.Throws<FlowFormatException>(() => FlowGenerator.Parse(yaml, "case.yaml"));

    [Fact]
    public void SampleFileLoadsEveryKind()
    {
        var spec = FlowGenerator.Load(GeneratorTests.SampleFlows);
        Assert.Equal(Enum.GetValues<FlowKind>().Order(), spec.Flows.Select(f => f.Kind).Distinct().Order());
        Assert.Contains(spec.Flows, f => f.Client.Address.Family == Family.IPv6);
        Assert.Contains(spec.Flows, f => f.HostAnswers);
        Assert.Contains(spec.Flows, f => f.Snat is not null);
        Assert.Contains(spec.Flows, f => f.Dnat is not null);
        Assert.Contains(spec.Flows, f => !f.Vlan.IsDefaultOrEmpty);
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:01"), spec.InterfaceMacs["eth0"]);
    }

    [Fact]
    public void ValidMinimalFlowUsesDefaults()
    {
        var flow = FlowGenerator.Parse(Valid, "case.yaml").Flows.Single();
        Assert.Equal("flow 1", flow.Name);
        Assert.Equal((ushort)5000, flow.Client.Port);
        Assert.Null(flow.ReplyIngress);
        Assert.Equal(0.010, flow.Rtt);
        Assert.Equal("case.yaml:2", flow.Origin);
    }

    [Theory]
    [InlineData("flows:\n  - kind: udp\n    client: 10.0.0.1\n    server: 10.0.0.2:53\n    ingress: eth0\n    colour: red\n", 6, 13, "unknown flow key 'colour'")]
    [InlineData("flows:\n  - kind: teleport\n    client: 10.0.0.1\n    server: 10.0.0.2:53\n    ingress: eth0\n", 2, 11, "unknown kind 'teleport'")]
    [InlineData("flows:\n  - kind: udp\n    client: 10.0.0.300\n    server: 10.0.0.2:53\n    ingress: eth0\n", 3, 13, "client '10.0.0.300' is not an address")]
    [InlineData("flows:\n  - kind: udp\n    client: 10.0.0.1\n    server: 10.0.0.2\n    ingress: eth0\n", 4, 13, "needs the server's port")]
    [InlineData("flows:\n  - kind: udp\n    client: 10.0.0.1\n    server: 2001:db8::1\n    ingress: eth0\n", 4, 13, "is IPv6 but the client is IPv4")]
    [InlineData("flows:\n  - kind: udp\n    client: 10.0.0.1\n    server: 10.0.0.2:53\n", 2, 5, "has no 'ingress'")]
    [InlineData("flows:\n  - kind: tcp\n    client: 10.0.0.1\n    server: 10.0.0.2:80\n    ingress: eth0\n    vlan: 5000\n", 6, 11, "vlan 5000 is outside 0 to 4095")]
    [InlineData("flows:\n  - kind: icmp-frag-needed\n    client: 10.0.0.1\n    server: 10.0.0.2:80\n    ingress: eth0\n", 2, 5, "needs 'reporter'")]
    [InlineData("flows:\n  - kind: udp\n    client: 10.0.0.1\n    server: 10.0.0.2:53\n    ingress: eth0\n    close: fin\n", 6, 12, "close does not apply to a udp flow")]
    [InlineData("flows: [\n", 2, 1, "not valid YAML")]
    [InlineData("epoch: 1\n", 1, 1, "no 'flows' list")]
    public void MistakesNameTheirLineAndColumn(string yaml, int line, int column, string message)
    {
        var error = Fails(yaml);
        Assert.Contains(message, error.Detail);
        Assert.Equal((line, column), ((int)error.Line, (int)error.Column));
        Assert.StartsWith($"case.yaml:{line}:{column}: ", error.Message);
    }

    [Fact]
    public void EpochIsExactToTheNanosecond()
    {
        var spec = FlowGenerator.Parse("epoch: 1700000000.123456789\n" + Valid, "case.yaml");
        Assert.Equal(1_700_000_000_123_456_789L, spec.Epoch.Nanoseconds);
        Assert.Equal(1_700_000_000_123_456_789L, FlowGenerator.Generate(spec, 1).First().Time.Nanoseconds);
    }

    [Fact]
    public void HostAnsweredRepliesLeaveByTheIngressInterface()
    {
        var spec = FlowGenerator.Parse(Valid.Replace("ingress: eth0", "ingress: eth0\n    reply-ingress: host"), "case.yaml");
        var packets = FlowGenerator.Generate(spec, 1).ToList();
        Assert.Equal(2, packets.Count);
        Assert.Equal(PacketDirection.Inbound, packets[0].Direction);
        Assert.Equal(PacketDirection.Outbound, packets[1].Direction);
        Assert.All(packets, p => Assert.Equal("eth0", p.Interface));
    }

    [Fact]
    public void NatViewsAddressTheReplies()
    {
        var yaml = """
            flows:
              - kind: icmp-port-unreachable
                client: 192.168.1.10:40000
                server: 198.51.100.1:8080
                ingress: eth0
                reply-ingress: eth1
                snat: 198.51.100.1:61000
                dnat: 10.0.0.5:80
            """;
        var packets = FlowGenerator.Generate(FlowGenerator.Parse(yaml, "nat.yaml"), 1).ToList();
        Assert.Equal(2, packets.Count);
        var error = packets[1];
        Assert.Equal("eth1", error.Interface);
        Assert.Equal(Address.Parse("10.0.0.5"), error.Ip!.Source);
        Assert.Equal(Address.Parse("198.51.100.1"), error.Ip.Destination);
        var quoted = ((IcmpHeader)error.Transport!).Quoted!;
        Assert.Equal(Address.Parse("198.51.100.1"), quoted.Ip.Source);
        Assert.Equal((ushort)61000, ((UdpHeader)quoted.Transport!).SourcePort);
        Assert.Equal((ushort)80, ((UdpHeader)quoted.Transport).DestinationPort);
        Assert.Equal(packets[0].Ip!.Id, quoted.Ip.Id);
    }

    [Fact]
    public void TcpScenariosHaveTheirShape()
    {
        string Flow(string kind, string extra = "") => $"flows:\n  - kind: {kind}\n    client: 10.0.0.1:1000\n    server: 10.0.0.2:80\n    ingress: eth0\n    reply-ingress: eth1\n{extra}";
        TcpFlags[] Flags(string yaml) => FlowGenerator.Generate(FlowGenerator.Parse(yaml, "t.yaml"), 2)
            .Select(p => ((TcpHeader)p.Transport!).Flags).ToArray();
        const TcpFlags S = TcpFlags.Syn, A = TcpFlags.Ack, P = TcpFlags.Psh, F = TcpFlags.Fin, R = TcpFlags.Rst;
        Assert.Equal([S, S | A], Flags(Flow("tcp-half-open")));
        Assert.Equal([S, R | A], Flags(Flow("tcp-refused")));
        Assert.Equal([S, S | A, A, P | A, A, P | A, A, F | A, F | A, A], Flags(Flow("tcp")));
        Assert.Equal([S, S | A, A, P | A, A, P | A, A, R | A], Flags(Flow("tcp", "    close: rst\n")));
        Assert.Equal([S, S, S | A, S | A, P | A, A, P | A, A, F | A, F | A, A], Flags(Flow("tcp-simultaneous-open")));
        Assert.Equal([P | A, A, P | A, A], Flags(Flow("tcp-midstream", "    close: none\n")));
        var window = FlowGenerator.Generate(FlowGenerator.Parse(Flow("tcp-out-of-window"), "w.yaml"), 2).ToList();
        var ack = (TcpHeader)window[2].Transport!;
        var outOfWindow = (TcpHeader)window[3].Transport!;
        Assert.Equal(0x4000_0000u, unchecked(outOfWindow.Sequence - ack.Sequence));
    }
}
