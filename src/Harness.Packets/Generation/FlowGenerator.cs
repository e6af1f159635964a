using System.Collections.Immutable;
using Harness.Net;

namespace Harness.Packets;

/// <summary>
/// Generates the packets of a <see cref="FlowSpec"/>: both directions of every flow, on the right interfaces,
/// merged by time (ties: flow order, then packet order). The same spec and seed give the same packets, byte for
/// byte: the seed draws ephemeral ports, initial sequence numbers and ICMP ids, and numbers the IPv4 ids (every
/// packet gets the next one, so a capture's packets can be told apart by id, as the kernel oracle does).
/// Generation streams: only flows in progress are held in memory.
/// </summary>
public static class FlowGenerator
{
    /// <summary>Reads a flow description file (YAML, see docs/flows.md). Throws <see cref="FlowFormatException"/> with file:line:column.</summary>
    public static FlowSpec Load(string path) => FlowLoader.Load(path);

    /// <summary>Reads flow description text; <paramref name="name"/> stands for the file in messages.</summary>
    public static FlowSpec Parse(string yaml, string name) => FlowLoader.Parse(yaml, name);

    public static IEnumerable<Packet> Generate(FlowSpec spec, int seed)
    {
        var flows = spec.Flows.Select((flow, index) => (Index: index, Flow: flow)).OrderBy(f => f.Flow.Start);
        return Merge(flows, spec.Epoch, spec.InterfaceMacs, seed);
    }

    /// <summary>Generates the spec's packets into a pcapng file (interface MACs from the spec).</summary>
    public static void WritePcapng(FlowSpec spec, int seed, string path) =>
        PcapngWriter.WriteFile(path, Generate(spec, seed), spec.InterfaceMacs);

    /// <summary>Generates the spec's packets into a pcapng stream (left open).</summary>
    public static void WritePcapng(FlowSpec spec, int seed, Stream stream)
    {
        using var writer = new PcapngWriter(stream, spec.InterfaceMacs, leaveOpen: true);
        foreach (var packet in Generate(spec, seed))
            writer.Write(packet);
    }

    /// <summary>
    /// Endless-looking benchmark traffic cut at <paramref name="packetCount"/> packets: overlapping TCP sessions
    /// (70%), UDP exchanges (20%) and pings (10%) between 10.1.0.0/16 clients on eth0 and 203.0.113.0/24 servers on
    /// eth1, a new flow every 200 µs. Streams in constant memory.
    /// </summary>
    public static IEnumerable<Packet> GenerateBenchmark(long packetCount, int seed) =>
        Merge(BenchmarkFlows(seed), new Timestamp(1_700_000_000L * 1_000_000_000L), ImmutableDictionary<string, MacAddress>.Empty, seed)
            .Take(packetCount > int.MaxValue ? int.MaxValue : (int)packetCount);

    /// <summary>Writes <see cref="GenerateBenchmark"/> to a pcapng file.</summary>
    public static void WriteBenchmarkCapture(string path, long packetCount, int seed) =>
        PcapngWriter.WriteFile(path, GenerateBenchmark(packetCount, seed));

    private static IEnumerable<(int Index, FlowDescription Flow)> BenchmarkFlows(int seed)
    {
        var random = new Random(seed);
        for (int k = 0; ; k++)
        {
            var client = new FlowEndpoint(Address.V4(0x0A01_0000u | (uint)(1 + k % 65000)), null);
            var server = Address.V4(0xCB00_7100u | (uint)(1 + k % 200));
            var (kind, port) = (k % 10) switch
            {
                < 7 => (FlowKind.Tcp, (ushort)(k % 3 == 0 ? 443 : 80)),
                < 9 => (FlowKind.Udp, (ushort)53),
                _ => (FlowKind.IcmpEcho, (ushort)0),
            };
            yield return (k, new FlowDescription
            {
                Name = "bench" + k,
                Kind = kind,
                Client = client,
                Server = new FlowEndpoint(server, kind == FlowKind.IcmpEcho ? null : port),
                Ingress = "eth0",
                ReplyIngress = "eth1",
                Start = k * 0.0002,
                Rtt = 0.002,
                Request = kind == FlowKind.Tcp ? random.Next(50, 2000) : -1,
                Response = kind == FlowKind.Tcp ? random.Next(100, 9000) : -1,
                Count = kind == FlowKind.Tcp ? 1 : 2,
            });
        }
    }

    /// <summary>Merges flows (given in order of start time) into one time-ordered packet stream.</summary>
    private static IEnumerable<Packet> Merge(IEnumerable<(int Index, FlowDescription Flow)> flows, Timestamp epoch,
        IReadOnlyDictionary<string, MacAddress> interfaceMacs, int seed)
    {
        var queue = new PriorityQueue<FlowRun, (long Time, int Flow, int Order)>();
        using var pending = flows.GetEnumerator();
        bool more = pending.MoveNext();
        long number = 0;
        ushort nextId = (ushort)(seed * 2654435761u >> 16);
        while (more || queue.Count > 0)
        {
            // Admit every flow that starts no later than the earliest queued packet.
            while (more && (queue.Count == 0 || StartOf(pending.Current.Flow, epoch) <= queue.Peek().NextTime))
            {
                var run = new FlowRun(pending.Current.Index, pending.Current.Flow, epoch, interfaceMacs, seed);
                if (run.HasNext) queue.Enqueue(run, run.Key);
                more = pending.MoveNext();
            }
            if (queue.Count == 0) continue;
            var current = queue.Dequeue();
            yield return current.Emit(++number, nextId++);
            if (current.HasNext) queue.Enqueue(current, current.Key);
        }
    }

    private static long StartOf(FlowDescription flow, Timestamp epoch) => epoch.Nanoseconds + (long)Math.Round(flow.Start * 1e9);

    /// <summary>One flow being emitted: its planned packets and the ones already built (for ICMP errors that quote them).</summary>
    private sealed class FlowRun
    {
        private readonly int index;
        private readonly FlowDescription flow;
        private readonly FlowScript script;
        private readonly IReadOnlyList<PlannedPacket> plans;
        private readonly Packet[] built;
        private readonly long start;
        private readonly LinkHeader clientLink, farLink;
        private int next;

        public FlowRun(int index, FlowDescription flow, Timestamp epoch, IReadOnlyDictionary<string, MacAddress> interfaceMacs, int seed)
        {
            this.index = index;
            this.flow = flow;
            (script, plans) = FlowScript.Write(flow, new Random(unchecked(seed * 1_000_003 + index)));
            built = new Packet[plans.Count];
            start = StartOf(flow, epoch);
            (clientLink, farLink) = Links(flow, interfaceMacs);
        }

        public bool HasNext => next < plans.Count;
        public long NextTime => start + plans[next].OffsetNs;
        public (long, int, int) Key => (NextTime, index, next);

        public Packet Emit(long number, ushort ipId)
        {
            var plan = plans[next];
            bool v6 = plan.Source.Family == Family.IPv6;
            var ip = new IpHeader
            {
                Family = plan.Source.Family,
                Source = plan.Source,
                Destination = plan.Destination,
                Protocol = plan.Protocol,
                Ttl = plan.Ttl,
                Id = v6 ? 0u : ipId,
                DontFragment = plan.DontFragment,
                TotalLength = 0,
                HeaderLength = 0,
            };
            byte[] payload = plan.QuoteIndex >= 0 ? Quote(built[plan.QuoteIndex], v6) : Payload(plan.PayloadLength, number);
            bool fromClient = plan.Side == FlowSide.Client;
            var (iface, direction, link) = fromClient
                ? (flow.Ingress, PacketDirection.Inbound, clientLink)
                : flow.HostAnswers
                    ? (flow.Ingress, PacketDirection.Outbound, farLink)
                    : (flow.ReplyIngress ?? flow.Ingress, PacketDirection.Inbound, farLink);
            var packet = PacketBuilder.Create(number, new Timestamp(start + plan.OffsetNs), ip, plan.Transport, payload, iface, direction,
                link with { EtherType = v6 ? (ushort)0x86DD : (ushort)0x0800 });
            built[next++] = packet;
            return packet;
        }

        /// <summary>The bytes an ICMP error quotes: the client's packet as the far side received it (after the host's NAT).</summary>
        private byte[] Quote(Packet original, bool v6)
        {
            var seen = original with
            {
                Ip = original.Ip! with { Source = script.ClientSeen.Address, Destination = script.ServerReal.Address },
                Transport = original.Transport switch
                {
                    TcpHeader t => t with { SourcePort = script.ClientSeen.Port, DestinationPort = script.ServerReal.Port },
                    UdpHeader u => u with { SourcePort = script.ClientSeen.Port, DestinationPort = script.ServerReal.Port },
                    var other => other,
                },
            };
            var bytes = PacketBuilder.Serialize(seen);
            int room = v6 ? PacketBuilder.Ipv6IcmpErrorLimit - 48 : PacketBuilder.Ipv4IcmpErrorLimit - 28;
            return bytes.Length <= room ? bytes : bytes[..room];
        }

        /// <summary>Deterministic printable payload bytes.</summary>
        private static byte[] Payload(int length, long number)
        {
            var bytes = new byte[length];
            for (int i = 0; i < length; i++) bytes[i] = (byte)('a' + (int)((i + number) % 26));
            return bytes;
        }

        private static (LinkHeader Client, LinkHeader Far) Links(FlowDescription flow, IReadOnlyDictionary<string, MacAddress> macs)
        {
            MacAddress HostMac(string name) => macs.TryGetValue(name, out var mac) ? mac : PcapngWriter.SyntheticMac(name, farSide: false);
            var clientMac = flow.ClientMac ?? MacOf(flow.Client.Address);
            var serverMac = flow.ServerMac ?? MacOf(flow.Dnat?.Address ?? flow.Server.Address);
            var client = new LinkHeader(clientMac, HostMac(flow.Ingress), flow.Vlan, 0);
            var far = flow.HostAnswers
                ? new LinkHeader(HostMac(flow.Ingress), clientMac, flow.Vlan, 0)
                : new LinkHeader(serverMac, HostMac(flow.ReplyIngress ?? flow.Ingress), ReplyVlans(flow), 0);
            return (client, far);
        }

        /// <summary>The reply side's tags: as given, else the client side's when replies arrive on the same interface, else none.</summary>
        private static ImmutableArray<ushort> ReplyVlans(FlowDescription flow) =>
            !flow.ReplyVlan.IsDefaultOrEmpty ? flow.ReplyVlan
            : (flow.ReplyIngress ?? flow.Ingress) == flow.Ingress ? flow.Vlan
            : ImmutableArray<ushort>.Empty;

        /// <summary>A fixed locally administered MAC for a neighbour address: 02:aa: then a hash of the address.</summary>
        private static MacAddress MacOf(Address address)
        {
            ulong hash = 14695981039346656037;
            for (int i = 0; i < 16; i++) hash = (hash ^ (byte)(address.Value >> (8 * i))) * 1099511628211;
            return new MacAddress((0x02AAUL << 32) | (uint)hash);
        }
    }
}
