using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;

namespace Harness.Packets;

/// <summary>A traffic description: flows to generate (see docs/flows.md). Immutable; load one with <see cref="FlowGenerator.Load"/>.</summary>
public sealed record FlowSpec(ImmutableArray<FlowDescription> Flows)
{
    /// <summary>Time 0 of the flows' start times, on the generated capture's clock (default 2023-11-14T22:13:20Z).</summary>
    public Timestamp Epoch { get; init; } = new(1_700_000_000L * 1_000_000_000L);

    /// <summary>MAC addresses of the host's interfaces, by name; others get <see cref="PcapngWriter.SyntheticMac"/>.</summary>
    public ImmutableDictionary<string, MacAddress> InterfaceMacs { get; init; } = ImmutableDictionary<string, MacAddress>.Empty;
}

/// <summary>What happens in a flow.</summary>
public enum FlowKind
{
    /// <summary>Handshake, request and response data, then the <see cref="TcpClose"/>.</summary>
    Tcp,
    /// <summary>SYN and the server's SYN/ACK, never the final ACK.</summary>
    TcpHalfOpen,
    /// <summary>SYN answered by the server's RST/ACK (closed port).</summary>
    TcpRefused,
    /// <summary>Both sides send SYN, then SYN/ACK, then data and close as for <see cref="Tcp"/>.</summary>
    TcpSimultaneousOpen,
    /// <summary>No handshake: data segments both ways (conntrack picks the connection up), then close.</summary>
    TcpMidstream,
    /// <summary>Handshake, then a client segment far outside the window, then data and close.</summary>
    TcpOutOfWindow,
    /// <summary><see cref="FlowDescription.Count"/> UDP requests, each answered unless the response size is 0.</summary>
    Udp,
    /// <summary><see cref="FlowDescription.Count"/> ICMP / ICMPv6 echo requests and replies.</summary>
    IcmpEcho,
    /// <summary>A UDP request answered by ICMP port unreachable (ICMPv6 destination unreachable, port) quoting it.</summary>
    IcmpPortUnreachable,
    /// <summary>Handshake, then a large client segment with DF answered by a router's "fragmentation needed" (ICMPv6 "packet too big").</summary>
    IcmpFragNeeded,
}

/// <summary>How a TCP flow ends.</summary>
public enum TcpClose
{
    Fin,
    Rst,
    None,
}

/// <summary>An address with an optional port.</summary>
public readonly record struct FlowEndpoint(Address Address, ushort? Port)
{
    public override string ToString() => Port is { } p
        ? (Address.Family == Family.IPv6 ? $"[{Address}]:{p.ToString(CultureInfo.InvariantCulture)}" : $"{Address}:{p.ToString(CultureInfo.InvariantCulture)}")
        : Address.ToString();
}

/// <summary>One flow: who talks to whom, where the packets arrive, when, and what happens.</summary>
public sealed record FlowDescription
{
    public required string Name { get; init; }
    public required FlowKind Kind { get; init; }

    /// <summary>The client as it sends (source of the first packet). Without a port, one is drawn from the seed.</summary>
    public required FlowEndpoint Client { get; init; }

    /// <summary>The address (and port) the client sends to.</summary>
    public required FlowEndpoint Server { get; init; }

    /// <summary>The interface the client's packets arrive on.</summary>
    public required string Ingress { get; init; }

    /// <summary>The interface the far side's packets (replies, ICMP errors) arrive on; null: the same as <see cref="Ingress"/>.</summary>
    public string? ReplyIngress { get; init; }

    /// <summary>True when the host itself is the server: its replies leave by <see cref="Ingress"/>, marked outbound.</summary>
    public bool HostAnswers { get; init; }

    /// <summary>The client as the server sees it, after the host's SNAT/MASQUERADE (null: unchanged).</summary>
    public FlowEndpoint? Snat { get; init; }

    /// <summary>The server that really answers, after the host's DNAT (null: <see cref="Server"/>).</summary>
    public FlowEndpoint? Dnat { get; init; }

    /// <summary>Seconds after the spec's epoch of the first packet.</summary>
    public double Start { get; init; }

    /// <summary>Round-trip time in seconds: consecutive packets of the flow are half of it apart.</summary>
    public double Rtt { get; init; } = 0.010;

    /// <summary>Bytes the client sends (per request for UDP); -1: the kind's default.</summary>
    public int Request { get; init; } = -1;

    /// <summary>Bytes the server answers with; -1: the kind's default.</summary>
    public int Response { get; init; } = -1;

    /// <summary>Request/response rounds (UDP, ICMP echo).</summary>
    public int Count { get; init; } = 1;

    public TcpClose Close { get; init; } = TcpClose.Fin;

    /// <summary>VLAN ids (outermost first) of the client-side frames and of the reply-side frames.</summary>
    public ImmutableArray<ushort> Vlan { get; init; } = ImmutableArray<ushort>.Empty;
    public ImmutableArray<ushort> ReplyVlan { get; init; } = ImmutableArray<ushort>.Empty;

    /// <summary>MAC of the client (its frames' source) and of the server side's next hop; null: derived from the address.</summary>
    public MacAddress? ClientMac { get; init; }
    public MacAddress? ServerMac { get; init; }

    /// <summary>The router sending "fragmentation needed" / "packet too big" (<see cref="FlowKind.IcmpFragNeeded"/>).</summary>
    public Address? Reporter { get; init; }

    /// <summary>The MTU that router reports; 0: 1280.</summary>
    public int Mtu { get; init; }

    /// <summary>TTL / hop limit of the client's packets (the far side's are 64).</summary>
    public byte Ttl { get; init; } = 64;

    /// <summary>Where the flow was written (file:line), for messages.</summary>
    public string? Origin { get; init; }
}
