using System.Buffers.Binary;
using Harness.Engine;
using Harness.Net;
using Harness.Oracle.Native;
using Harness.Oracle.Topology;

namespace Harness.Oracle.Kernel;

/// <summary>A frame the firewall sent out of one of its interfaces, as the passive peer received it.</summary>
public sealed record EgressFrame(string Interface, byte[] Frame);

/// <summary>Everything the kernel reported while it processed one injected frame.</summary>
public sealed record KernelWindow(IReadOnlyList<TraceEvent> Trace, IReadOnlyList<ConntrackEvent> Conntrack, IReadOnlyList<EgressFrame> Egress);

/// <summary>
/// A live firewall namespace with tracing on: loads rulesets, flushes conntrack, injects one frame at a time from a
/// peer and collects the trace, the conntrack events and the frames that left. Reusable across cases.
/// </summary>
public sealed class KernelSession : IDisposable
{
    private const int MarkerTimeoutMs = 3000;
    private readonly FirewallTopology _topology;
    private readonly NetlinkSocket _trace;
    private readonly NetlinkSocket _conntrack;
    private readonly NetlinkSocket _conntrackDump;
    private readonly RawIpSocket _local4;
    private readonly RawIpSocket? _local6;
    private readonly Dictionary<string, PacketSocket> _peers = new(StringComparer.Ordinal);
    private readonly Dictionary<int, string> _interfaceByIndex = [];
    private readonly List<ConntrackEvent> _pendingConntrack = [];
    private ushort _markerId;

    public RuleMap Rules { get; private set; }
    public FirewallTopology Topology => _topology;

    public KernelSession(FirewallTopology topology)
    {
        _topology = topology;
        var fw = topology.FirewallNamespace;
        Command.InNamespace(fw, "nft", ["-f", "-"], TraceTable.Script());
        _trace = NetlinkSocket.Open(fw, 9);
        _conntrack = NetlinkSocket.Open(fw, 1, 2, 3);
        _conntrackDump = NetlinkSocket.Open(fw);
        _local4 = RawIpSocket.Open(fw, v6: false);
        _local6 = topology.Ipv6 ? RawIpSocket.Open(fw, v6: true) : null;
        foreach (var wire in topology.Wires)
        {
            _peers[wire.InterfaceName] = PacketSocket.Open(wire.PeerNamespace, FirewallTopology.PeerInterface);
            int index = NetNs.RunInside(fw, () => (int)LibC.if_nametoindex(wire.InterfaceName));
            _interfaceByIndex[index] = wire.InterfaceName;
        }
        _interfaceByIndex[NetNs.RunInside(fw, () => (int)LibC.if_nametoindex("lo"))] = "lo";
        Rules = ReadRuleMap();
    }

    public string? InterfaceName(int? index) => index is int i && _interfaceByIndex.TryGetValue(i, out var n) ? n : null;

    /// <summary>
    /// Replaces the ruleset under test: deletes every nft table but the oracle's own, restores the given
    /// iptables-save / ip6tables-save texts with the real iptables-restore, and flushes conntrack.
    /// </summary>
    public void LoadRuleset(string? ipv4Save, string? ipv6Save)
    {
        var fw = _topology.FirewallNamespace;
        var tables = Command.InNamespace(fw, "nft", ["list", "tables"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("table ", StringComparison.Ordinal) && !l.EndsWith(" " + TraceTable.Name, StringComparison.Ordinal))
            .Select(l => "delete " + l + "\n")
            .ToList();
        if (tables.Count > 0) Command.InNamespace(fw, "nft", ["-f", "-"], string.Concat(tables));
        if (!string.IsNullOrWhiteSpace(ipv4Save)) Restore("iptables-restore", ipv4Save);
        if (!string.IsNullOrWhiteSpace(ipv6Save)) Restore("ip6tables-restore", ipv6Save);
        FlushConntrack();
        Rules = ReadRuleMap();
    }

    /// <summary>Empties the conntrack table and forgets pending events.</summary>
    public void FlushConntrack()
    {
        Command.InNamespace(_topology.FirewallNamespace, "conntrack", ["-F"]);
        _conntrack.Drain();
        _pendingConntrack.Clear();
        _trace.Drain();
        foreach (var p in _peers.Values) p.DrainIncoming();
    }

    /// <summary>Events that arrived between windows (conntrack's garbage collector destroying expired entries).</summary>
    public IReadOnlyList<ConntrackEvent> TakeBackgroundConntrackEvents()
    {
        Collect(_conntrack, _pendingConntrack);
        var events = _pendingConntrack.ToList();
        _pendingConntrack.Clear();
        return events;
    }

    /// <summary>Sends one Ethernet frame from the peer of <paramref name="interfaceName"/> and collects what the kernel did.</summary>
    public KernelWindow Inject(string interfaceName, byte[] frame)
    {
        if (!_peers.TryGetValue(interfaceName, out var peer))
            throw new OracleException($"the host has no interface '{interfaceName}'");
        return Collect(() => peer.Send(frame));
    }

    /// <summary>Sends one IP packet from the firewall itself (through OUTPUT) and collects what the kernel did.</summary>
    public KernelWindow InjectLocal(byte[] ipPacket)
    {
        bool v6 = ipPacket.Length > 0 && ipPacket[0] >> 4 == 6;
        var socket = v6 ? _local6 ?? throw new OracleException("an IPv6 packet in a case the oracle set up without IPv6") : _local4;
        return Collect(() => socket.Send(ipPacket));
    }

    private KernelWindow Collect(Action send)
    {
        // Anything queued before this packet belongs to no window (e.g. late garbage collection).
        _trace.Drain();
        foreach (var p in _peers.Values) p.DrainIncoming();

        send();
        var markerId = ++_markerId;
        var first = _topology.Wires[0];
        _peers[first.InterfaceName].Send(MarkerFrame(first, markerId));

        var events = new List<TraceEvent>();
        var deadline = Environment.TickCount64 + MarkerTimeoutMs;
        while (true)
        {
            bool sawMarker = false;
            foreach (var m in _trace.Drain())
            {
                if (TraceEvent.FromMessage(m) is not { } e) continue;
                if (e.Table == TraceTable.Name && e.IpProtocol == TraceTable.MarkerProtocol)
                {
                    if (e.Ipv4Id == markerId) sawMarker = true;
                    continue;
                }
                events.Add(e);
            }
            if (sawMarker) break;
            var left = deadline - Environment.TickCount64;
            if (left <= 0) throw new OracleException("the kernel did not process the marker packet within 3 s (trace events lost?)");
            _trace.WaitReadable((int)Math.Min(left, 200));
        }

        var conntrack = new List<ConntrackEvent>(_pendingConntrack);
        _pendingConntrack.Clear();
        Collect(_conntrack, conntrack);
        var egress = new List<EgressFrame>();
        foreach (var wire in _topology.Wires)
            foreach (var f in _peers[wire.InterfaceName].DrainIncoming())
                if (IsInteresting(f)) egress.Add(new EgressFrame(wire.InterfaceName, f));
        return new KernelWindow(events, conntrack, egress);
    }

    /// <summary>
    /// The conntrack entry a tuple belongs to (in either direction) as it is now, like "conntrack -G", or null. Unlike
    /// events, this also shows state changes made by packets that were dropped later (their events are never sent).
    /// </summary>
    public ConntrackEvent? LookupConntrack(CtTuple tuple)
    {
        const ushort ctGet = (1 << 8) | 1; // NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET
        var answer = _conntrackDump.Request(ctGet, tuple.Family == Family.IPv4 ? (byte)2 : (byte)10, TupleAttribute(tuple));
        return answer?.Select(ConntrackEvent.FromMessage).OfType<ConntrackEvent>().FirstOrDefault();
    }

    private static byte[] TupleAttribute(CtTuple t)
    {
        bool v4 = t.Family == Family.IPv4;
        var ip = Concat(Attribute(v4 ? 1 : 3, t.Source.ToBytes()), Attribute(v4 ? 2 : 4, t.Destination.ToBytes()));
        byte[] proto;
        if (t.Protocol is IpProtocol.Icmp or IpProtocol.Icmpv6)
        {
            bool icmp4 = t.Protocol == IpProtocol.Icmp;
            proto = Concat(Attribute(1, [t.Protocol]), Attribute(icmp4 ? 4 : 7, BigEndian(t.SourcePort)),
                Attribute(icmp4 ? 5 : 8, [(byte)(t.DestinationPort >> 8)]), Attribute(icmp4 ? 6 : 9, [(byte)t.DestinationPort]));
        }
        else
        {
            proto = Concat(Attribute(1, [t.Protocol]), Attribute(2, BigEndian(t.SourcePort)), Attribute(3, BigEndian(t.DestinationPort)));
        }
        return Attribute(1 | Nested, Concat(Attribute(1 | Nested, ip), Attribute(2 | Nested, proto)));
    }

    private const int Nested = 0x8000;

    private static byte[] BigEndian(ushort v) => [(byte)(v >> 8), (byte)v];

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static byte[] Attribute(int type, byte[] payload)
    {
        int length = 4 + payload.Length;
        var a = new byte[(length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)length);
        BinaryPrimitives.WriteUInt16LittleEndian(a.AsSpan(2), (ushort)type);
        payload.CopyTo(a.AsSpan(4));
        return a;
    }

    private static void Collect(NetlinkSocket socket, List<ConntrackEvent> into)
    {
        foreach (var m in socket.Drain())
            if (ConntrackEvent.FromMessage(m) is { } e) into.Add(e);
    }

    private void Restore(string program, string text)
    {
        var r = Command.RunInNamespace(_topology.FirewallNamespace, program, [], text);
        if (r.ExitCode != 0)
            throw new OracleException($"{program} refused the ruleset: {r.Error.Trim().Replace('\n', ' ')}");
    }

    private RuleMap ReadRuleMap() =>
        RuleMap.FromNftJson(Command.InNamespace(_topology.FirewallNamespace, "nft", ["-j", "-a", "list", "ruleset"]));

    /// <summary>Frames worth recording: IP only, without IPv6's own chatter (router solicitations, MLD reports).</summary>
    private static bool IsInteresting(byte[] frame)
    {
        if (frame.Length < 14) return false;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12));
        if (type == 0x0800) return true;
        if (type != 0x86DD || frame.Length < 14 + 41) return false;
        byte next = frame[14 + 6];
        if (next == 0) return false; // hop-by-hop: MLD reports
        if (next == 58 && frame[14 + 40] is 133 or 143 or 130 or 131 or 132) return false;
        return true;
    }

    private static byte[] MarkerFrame(Wire wire, ushort id)
    {
        var frame = new byte[14 + 20];
        wire.FirewallMac.WriteBytes(frame.AsSpan(0, 6));
        wire.PeerMac.WriteBytes(frame.AsSpan(6, 6));
        frame[12] = 0x08;
        var ip = frame.AsSpan(14);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], 20);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
        ip[8] = 64;
        ip[9] = TraceTable.MarkerProtocol;
        Address.Parse("192.0.2.253").WriteBytes(ip[12..16]);
        Address.Parse("192.0.2.254").WriteBytes(ip[16..20]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Ipv4Checksum(ip[..20]));
        return frame;
    }

    internal static ushort Ipv4Checksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < header.Length; i += 2) sum += (uint)(header[i] << 8 | header[i + 1]);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    public void Dispose()
    {
        _trace.Dispose();
        _conntrack.Dispose();
        _conntrackDump.Dispose();
        _local4.Dispose();
        _local6?.Dispose();
        foreach (var p in _peers.Values) p.Dispose();
        _peers.Clear();
    }
}
