using System.Collections.Immutable;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Tests.Scenarios;

/// <summary>Docker's chains: published port DNAT (from outside and from the host itself), container egress masqueraded, isolation.</summary>
public class DockerScenarioTests
{
    private const string Rules = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :DOCKER - [0:0]
        -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
        -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
        -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
        -A DOCKER -i docker0 -j RETURN
        -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        :DOCKER - [0:0]
        :DOCKER-ISOLATION-STAGE-1 - [0:0]
        :DOCKER-ISOLATION-STAGE-2 - [0:0]
        :DOCKER-USER - [0:0]
        -A FORWARD -j DOCKER-USER
        -A FORWARD -j DOCKER-ISOLATION-STAGE-1
        -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -o docker0 -j DOCKER
        -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
        -A FORWARD -i docker0 -o docker0 -j ACCEPT
        -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
        -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
        -A DOCKER-ISOLATION-STAGE-1 -j RETURN
        -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
        -A DOCKER-ISOLATION-STAGE-2 -j RETURN
        -A DOCKER-USER -j RETURN
        COMMIT
        """;

    private static Host DockerHost()
    {
        var h = TestHosts.Router();
        var docker0 = new HostInterface("docker0", 4, MacAddress.Parse("02:42:00:00:00:01"), [new InterfaceAddress(Address.Parse("172.17.0.1"), 16)]);
        return h with { Interfaces = h.Interfaces.Add(docker0) };
    }

    private static Engine NewEngine() => Engine.Create(TestRules.Load(Rules), null, DockerHost(), EngineOptions.Default);

    [Fact]
    public void Published_port_reaches_the_container()
    {
        var o = NewEngine().Process(P.Syn("198.51.100.7", 5000, "203.0.113.1", 8080, "eth0"))[0];
        Assert.Equal((Disposition.Forwarded, "docker0", "filter:DOCKER:1"), (o.Disposition, o.OutInterface, o.DecidingRule));
        Assert.Equal("172.17.0.2", o.Packet.Ip!.Destination.ToString());
        Assert.Equal(80, ((TcpHeader)o.Packet.Transport!).DestinationPort);
        Assert.Equal("198.51.100.7", o.Packet.Ip.Source.ToString());
    }

    [Fact]
    public void Container_egress_is_masqueraded_and_answers_come_back()
    {
        var engine = NewEngine();
        var query = engine.Process(P.Udp("172.17.0.2", 40000, "8.8.8.8", 53, "docker0", 1, 1))[0];
        Assert.Equal((Disposition.Forwarded, "eth0", "filter:FORWARD:5"), (query.Disposition, query.OutInterface, query.DecidingRule));
        Assert.Equal("203.0.113.1", query.Packet.Ip!.Source.ToString());
        var answer = engine.Process(P.Udp("8.8.8.8", 53, "203.0.113.1", 40000, "eth0", 2, 1.02))[0];
        Assert.Equal((Disposition.Forwarded, "docker0", "filter:FORWARD:3"), (answer.Disposition, answer.OutInterface, answer.DecidingRule));
        Assert.Equal("172.17.0.2", answer.Packet.Ip!.Destination.ToString());
    }

    [Fact]
    public void Host_process_reaching_its_own_published_port_is_dnatted_in_output_and_rerouted()
    {
        var o = NewEngine().Process(P.Syn("203.0.113.1", 45000, "203.0.113.1", 8080, iface: null))[0];
        Assert.Equal((Disposition.Sent, "docker0"), (o.Disposition, o.OutInterface));
        Assert.Equal("172.17.0.2", o.Packet.Ip!.Destination.ToString());
        Assert.Contains("OUTPUT:nat:DOCKER:2", o.Path.Select(p => p.ToString()));
    }
}
