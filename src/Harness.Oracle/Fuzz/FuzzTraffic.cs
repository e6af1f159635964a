using System.Collections.Immutable;
using Harness.Engine;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;

namespace Harness.Oracle.Fuzz;

/// <summary>
/// The fuzz hosts (IPv4: eth0 10.0.0.1/24, eth1 10.1.0.1/24; IPv6: eth0 2001:db8::1/64, eth1 2001:db8:1::1/64;
/// forwarding on) and the concrete packets of a case's steps.
/// Packets are made one at a time: a server's answer goes to where the kernel actually sent the client's packet
/// (after any NAT), so answers to DNATed or masqueraded flows are addressed as a real server would address them.
/// </summary>
public sealed class FuzzTraffic
{
    public static readonly Timestamp Start = new(1_700_000_000_000_000_000L);
    public const long GapNs = 1_000_000;

    private readonly FuzzCase _case;
    private readonly Dictionary<int, (uint ClientNext, uint ServerNext)> _seq = [];
    private readonly Dictionary<int, Outcome> _lastForwarded = [];
    private long _number;

    public FuzzTraffic(FuzzCase c) => _case = c;

    public static Host Host { get; } = new(
        [
            new HostInterface("eth0", 2, MacAddress.Parse("02:aa:00:00:00:01"), [new InterfaceAddress(Address.Parse("10.0.0.1"), 24, Address.Parse("10.0.0.255"))]),
            new HostInterface("eth1", 3, MacAddress.Parse("02:aa:00:00:00:02"), [new InterfaceAddress(Address.Parse("10.1.0.1"), 24, Address.Parse("10.1.0.255"))]),
        ],
        [
            new Route(new Cidr(Address.Parse("10.0.0.0"), 24), "eth0", PreferredSource: Address.Parse("10.0.0.1")),
            new Route(new Cidr(Address.Parse("10.1.0.0"), 24), "eth1", PreferredSource: Address.Parse("10.1.0.1")),
        ],
        [],
        // No ICMP redirects: the kernel rate-limits them per destination with state that outlives a case (the
        // namespaces are reused), and hosts on one subnet talking through the firewall would trigger them.
        // No ICMP error rate limits either, on both sides: the oracle turns them off in the kernel (its token buckets
        // run on the wall clock of the injection, not on the capture's timestamps), so the engine must not apply them.
        Sysctls.Defaults.With("net.ipv4.ip_forward", "1")
            .With("net.ipv4.conf.all.send_redirects", "0")
            .With("net.ipv4.conf.default.send_redirects", "0")
            .With("net.ipv4.icmp_ratelimit", "0")
            .With("net.ipv4.icmp_msgs_per_sec", "1000000")
            .With("net.ipv4.icmp_msgs_burst", "1000000"));

    /// <summary>
    /// The IPv6 fuzz host: IPv6 only, forwarding on, no link-local addresses, ICMPv6 error rate limits off as the oracle
    /// turns them off in the kernel (the host-wide icmp_msgs_* credit is shared by both families).
    /// </summary>
    public static Host Host6 { get; } = new(
        [
            new HostInterface("eth0", 2, MacAddress.Parse("02:aa:00:00:00:01"), [new InterfaceAddress(Address.Parse("2001:db8::1"), 64, null)]),
            new HostInterface("eth1", 3, MacAddress.Parse("02:aa:00:00:00:02"), [new InterfaceAddress(Address.Parse("2001:db8:1::1"), 64, null)]),
        ],
        [
            new Route(new Cidr(Address.Parse("2001:db8::"), 64), "eth0", PreferredSource: Address.Parse("2001:db8::1")),
            new Route(new Cidr(Address.Parse("2001:db8:1::"), 64), "eth1", PreferredSource: Address.Parse("2001:db8:1::1")),
        ],
        [],
        // No link-local addresses (addr_gen_mode 1, none): the kernel sends an IPv6 redirect only from a link-local
        // address, and IPv6 has no sysctl like IPv4's send_redirects to turn them off. Static neighbours make
        // neighbour discovery unnecessary, and the engine's host has no link-local addresses either.
        Sysctls.Defaults.With("net.ipv6.conf.all.forwarding", "1")
            .With("net.ipv6.conf.default.forwarding", "1")
            .With("net.ipv6.conf.default.addr_gen_mode", "1")
            .With("net.ipv6.icmp.ratelimit", "0")
            .With("net.ipv4.icmp_msgs_per_sec", "1000000")
            .With("net.ipv4.icmp_msgs_burst", "1000000"));

    public static Host HostFor(bool ipv6) => ipv6 ? Host6 : Host;

    /// <summary>Tells the traffic what the kernel did with a client packet (so answers can follow NAT).</summary>
    public void Observe(FuzzStep step, Outcome outcome)
    {
        if (IsClientStep(step.Kind) && outcome.Disposition == Disposition.Forwarded && !outcome.Generated)
            _lastForwarded[step.Flow] = outcome;
    }

    public Packet Next(FuzzStep step)
    {
        var flow = _case.Flows[step.Flow];
        var (cnext, snext) = _seq.GetValueOrDefault(step.Flow, (1000u, 5000u));
        bool client = IsClientStep(step.Kind);
        Address src, dst;
        ushort sport, dport;
        string iface;
        if (client)
        {
            (src, dst, sport, dport) = (Address.Parse(flow.Client), Address.Parse(flow.Server), flow.ClientPort, flow.ServerPort);
            iface = InterfaceOf(src);
        }
        else if (_lastForwarded.TryGetValue(step.Flow, out var seen) && seen.Packet.Ip is { } ip)
        {
            (src, dst) = (ip.Destination, ip.Source);
            var (ps, pd) = PortsOf(seen.Packet.Transport, flow);
            (sport, dport) = (pd, ps);
            iface = seen.OutInterface ?? InterfaceOf(src);
        }
        else
        {
            (src, dst, sport, dport) = (Address.Parse(flow.Server), Address.Parse(flow.Client), flow.ServerPort, flow.ClientPort);
            iface = InterfaceOf(src);
        }

        bool v6 = _case.Ipv6;
        TransportHeader transport;
        int payload = 0;
        bool corrupt = false;
        switch (step.Kind)
        {
            case StepKind.Syn: transport = Tcp(sport, dport, 1000, 0, TcpFlags.Syn); cnext = 1001; break;
            case StepKind.SynAck: transport = Tcp(sport, dport, 5000, cnext, TcpFlags.Syn | TcpFlags.Ack); snext = 5001; break;
            case StepKind.Ack: transport = Tcp(sport, dport, cnext, snext, TcpFlags.Ack); break;
            case StepKind.ClientData: payload = 10; transport = Tcp(sport, dport, cnext, snext, TcpFlags.Psh | TcpFlags.Ack); cnext += 10; break;
            case StepKind.ServerData: payload = 10; transport = Tcp(sport, dport, snext, cnext, TcpFlags.Psh | TcpFlags.Ack); snext += 10; break;
            case StepKind.ClientFin: transport = Tcp(sport, dport, cnext, snext, TcpFlags.Fin | TcpFlags.Ack); cnext += 1; break;
            case StepKind.ServerFin: transport = Tcp(sport, dport, snext, cnext, TcpFlags.Fin | TcpFlags.Ack); snext += 1; break;
            case StepKind.ClientRst: transport = Tcp(sport, dport, cnext, 0, TcpFlags.Rst); break;
            case StepKind.BadChecksum: payload = 10; corrupt = true; transport = Tcp(sport, dport, cnext, snext, TcpFlags.Psh | TcpFlags.Ack); break;
            case StepKind.StrayAck: transport = Tcp(sport, dport, cnext + 70000, snext + 90000, TcpFlags.Ack); break;
            case StepKind.UdpRequest:
            case StepKind.UdpResponse: payload = 12; transport = new UdpHeader(sport, dport, 20); break;
            case StepKind.EchoRequest: payload = 8; transport = new IcmpHeader(v6 ? (byte)128 : (byte)8, 0, v6) { Identifier = flow.ClientPort, SequenceNumber = 1 }; break;
            default: payload = 8; transport = new IcmpHeader(v6 ? (byte)129 : (byte)0, 0, v6) { Identifier = flow.ClientPort, SequenceNumber = 1 }; break;
        }
        _seq[step.Flow] = (cnext, snext);
        _number++;
        var protocol = transport switch { TcpHeader => IpProtocol.Tcp, UdpHeader => IpProtocol.Udp, _ => v6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp };
        var header = v6
            ? new IpHeader { Family = Family.IPv6, Source = src, Destination = dst, Protocol = protocol, Ttl = 64, TotalLength = 0, HeaderLength = 40 }
            : new IpHeader
            {
                Family = Family.IPv4, Source = src, Destination = dst, Protocol = protocol, Ttl = 64,
                TotalLength = 0, HeaderLength = 20, Id = (uint)(0x1000 + _number), DontFragment = true,
            };
        var bytes = PacketBuilder.Build(header, transport, new byte[payload]);
        if (corrupt) bytes[(v6 ? 40 : 20) + 16] ^= 0x5A;
        var time = new Timestamp(Start.Nanoseconds + _number * GapNs);
        return PacketDecoder.Decode(bytes, _number, time, iface, PacketDirection.Inbound);
    }

    private static TcpHeader Tcp(ushort sport, ushort dport, uint seq, uint ack, TcpFlags flags) => new(sport, dport, seq, ack, flags, 64240);

    private static (ushort, ushort) PortsOf(TransportHeader? t, FuzzFlow flow) => t switch
    {
        TcpHeader tcp => (tcp.SourcePort, tcp.DestinationPort),
        UdpHeader udp => (udp.SourcePort, udp.DestinationPort),
        _ => (flow.ClientPort, flow.ServerPort),
    };

    public static bool IsClientStep(StepKind k) => k is StepKind.Syn or StepKind.Ack or StepKind.ClientData or StepKind.ClientFin
        or StepKind.ClientRst or StepKind.BadChecksum or StepKind.StrayAck or StepKind.UdpRequest or StepKind.EchoRequest;

    private static string InterfaceOf(Address a) => a.Family == Family.IPv6
        ? (((a.Value >> 80) & 0xFFFF) == 1 ? "eth1" : "eth0")
        : (a.ToUInt32() >> 8) == 0x0A0100 ? "eth1" : "eth0";

    public static ImmutableArray<Address> AllAddresses =>
        [.. FuzzGenerators.Clients.Concat(FuzzGenerators.Servers).Append("10.1.0.1").Append("10.0.0.1").Distinct().Select(Address.Parse)];

    /// <summary>Every address of the IPv6 fuzz host's traffic and its own (static neighbours for the oracle).</summary>
    public static ImmutableArray<Address> AllAddresses6 =>
        [.. FuzzFamily.V6.Clients.Concat(FuzzFamily.V6.Servers).Append("2001:db8:1::1").Append("2001:db8::1").Distinct().Select(Address.Parse)];

    public static ImmutableArray<Address> AddressesFor(bool ipv6) => ipv6 ? AllAddresses6 : AllAddresses;
}
