using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Harness.Engine;
using Harness.Hosts;
using Harness.Net;
using Harness.Oracle.Kernel;
using Harness.Oracle.Native;
using Harness.Oracle.Topology;
using Harness.Packets;

namespace Harness.Oracle;

/// <summary>How the oracle replays a case.</summary>
public sealed record OracleOptions
{
    public static readonly OracleOptions Default = new();

    /// <summary>Wait between packets as the capture's timestamps say (off: as fast as the kernel answers).</summary>
    public bool Pace { get; init; } = true;

    /// <summary>
    /// Longer gaps between packets are shortened to this (and the result says so); null waits every gap in full.
    /// Only gaps that no conntrack timeout, limit or recent window can notice should be compressed.
    /// </summary>
    public TimeSpan? MaxGap { get; init; }

    /// <summary>Ingress interface of packets whose capture names none (and that are not the host's own).</summary>
    public string? DefaultInterface { get; init; }
}

/// <summary>What the kernel did with a case's packets, as the engine's outcome records, plus what could not be reproduced.</summary>
public sealed record OracleResult(ImmutableArray<Outcome> Outcomes, ImmutableArray<string> Notes);

/// <summary>
/// Namespaces built once for a host and reused for many runs: each run reloads the ruleset with the real
/// iptables-restore, flushes conntrack, then injects the packets one at a time. Dispose deletes the namespaces.
/// </summary>
public sealed partial class OracleSession : IDisposable
{
    private readonly FirewallTopology _topology;
    private readonly KernelSession _kernel;
    private readonly HashSet<(string, Address, MacAddress)> _neighbours = [];
    private OutcomeBuilder? _builder;
    private string? _defaultInterface;

    private OracleSession(FirewallTopology topology)
    {
        _topology = topology;
        try
        {
            _kernel = new KernelSession(topology);
        }
        catch
        {
            topology.Dispose();
            throw;
        }
    }

    public Host Host { get; private init; } = null!;

    /// <summary>The firewall namespace's name (for debugging: ip netns exec NAME nft list ruleset).</summary>
    public string FirewallNamespace => _topology.FirewallNamespace;

    /// <summary>Builds the namespaces for <paramref name="host"/>. Throws <see cref="OracleException"/> with one line when the oracle cannot run.</summary>
    public static OracleSession Create(Host host, bool ipv6 = false) =>
        new(FirewallTopology.Create(host, ipv6)) { Host = host };

    /// <summary>
    /// Runs packets through the kernel under the given rulesets (iptables-save text; null for none) and optional
    /// ipsets (ipset save text). Conntrack starts empty.
    /// </summary>
    public OracleResult Run(string? ipv4Save, string? ipv6Save, IEnumerable<Packet> packets, OracleOptions? options = null, string? ipsets = null)
    {
        options ??= OracleOptions.Default;
        _defaultInterface = options.DefaultInterface;
        var list = packets.ToList();
        var notes = new List<string>(_topology.Notes);
        Reset(ipv4Save, ipv6Save, list.Where(p => p.Ip is not null).SelectMany(p => new[] { p.Ip!.Source, p.Ip.Destination }), ipsets, list);
        var outcomes = ImmutableArray.CreateBuilder<Outcome>();
        var clock = Stopwatch.StartNew();
        long offsetNs = 0;
        Timestamp? previous = null;
        bool compressed = false;
        foreach (var packet in list)
        {
            if (previous is { } prev)
            {
                long gap = Math.Max(0, (packet.Time - prev).Nanoseconds);
                if (options.MaxGap is { } max && gap > max.Ticks * 100)
                {
                    gap = max.Ticks * 100;
                    compressed = true;
                }
                offsetNs += gap;
            }
            previous = packet.Time;
            if (options.Pace) WaitUntil(clock, offsetNs);
            outcomes.AddRange(Process(packet));
        }
        if (compressed)
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"gaps between packets longer than {options.MaxGap!.Value.TotalSeconds} s were shortened to it"));
        if (!options.Pace) notes.Add("packets were injected without waiting for the capture's gaps");
        return new OracleResult(outcomes.ToImmutable(), [.. notes.Distinct()]);
    }

    /// <summary>
    /// Loads a ruleset (and ipsets) for a new run, empties conntrack, and adds static neighbours for
    /// <paramref name="addresses"/> and every address the ruleset names. Then call <see cref="Process"/> per packet.
    /// </summary>
    public void Reset(string? ipv4Save, string? ipv6Save, IEnumerable<Address> addresses, string? ipsets = null, IReadOnlyList<Packet>? learnFrom = null)
    {
        LoadIpsets(ipsets);
        _kernel.LoadRuleset(ipv4Save, ipv6Save);
        _builder = new OutcomeBuilder(_kernel);
        AddNeighbours(learnFrom ?? [], addresses, (ipv4Save ?? "") + "\n" + (ipv6Save ?? ""));
    }

    /// <summary>Injects one packet now and returns what the kernel did (its outcome, then any packets it caused).</summary>
    public IReadOnlyList<Outcome> Process(Packet packet) =>
        Replay(packet, _builder ?? throw new InvalidOperationException("call Reset (or Run) before Process"));

    private IReadOnlyList<Outcome> Replay(Packet packet, OutcomeBuilder builder)
    {
        if (packet.Direction == PacketDirection.Outbound)
            return [Simple(packet, FinalVerdict.Accept, Disposition.ObservedEgress, null) with { OutInterface = packet.Interface, InInterface = null }];
        if (packet.Ip is null || packet.Raw.IsEmpty)
            return [Simple(packet, FinalVerdict.Drop, Disposition.Dropped, "not injected: " + (packet.DecodeError ?? "not an IP packet"))];
        _kernel.TakeBackgroundConntrackEvents();
        var tuple = ConntrackEntry.TupleOf(packet);
        var before = tuple is null ? null : ConntrackEntry.From(_kernel.LookupConntrack(tuple));
        if (IsLocallyGenerated(packet))
        {
            var local = _kernel.InjectLocal(packet.Raw.ToArray());
            var afterLocal = tuple is null ? null : ConntrackEntry.From(_kernel.LookupConntrack(tuple));
            return builder.Build(packet, local, before, afterLocal, locallyGenerated: true);
        }
        var iface = packet.Interface ?? _defaultInterface ?? _topology.Wires.FirstOrDefault()?.InterfaceName
            ?? throw new OracleException("the host has no interface to inject packets on");
        var wire = _topology.WireFor(iface);
        var window = _kernel.Inject(iface, Frame(packet, wire));
        var after = tuple is null ? null : ConntrackEntry.From(_kernel.LookupConntrack(tuple));
        return builder.Build(packet with { Interface = iface }, window, before, after, locallyGenerated: false);
    }

    /// <summary>As the engine decides: a packet the capture names no interface for, from one of the host's own addresses.</summary>
    private bool IsLocallyGenerated(Packet packet) =>
        packet.Interface is null && packet.Ip is { } ip && Host.AllAddresses.Any(a => a.Address == ip.Source);

    private static Outcome Simple(Packet p, FinalVerdict verdict, Disposition disposition, string? reason) => new()
    {
        PacketNumber = p.Number,
        Time = p.Time,
        InInterface = p.Interface,
        Verdict = verdict,
        Disposition = disposition,
        Reason = reason,
        Packet = p,
    };

    private static byte[] Frame(Packet packet, Wire wire)
    {
        if (packet.Link is { VlanIds.Length: > 0 })
            throw new OracleException($"packet {packet.Number}: VLAN-tagged frames are not supported by the oracle");
        var raw = packet.Raw.Span;
        var frame = new byte[14 + raw.Length];
        (packet.Link?.Destination ?? wire.FirewallMac).WriteBytes(frame.AsSpan(0, 6));
        (packet.Link?.Source ?? wire.PeerMac).WriteBytes(frame.AsSpan(6, 6));
        bool v6 = packet.Ip!.Family == Family.IPv6;
        frame[12] = v6 ? (byte)0x86 : (byte)0x08;
        frame[13] = v6 ? (byte)0xDD : (byte)0x00;
        raw.CopyTo(frame.AsSpan(14));
        return frame;
    }

    /// <summary>Static neighbours for every address the traffic or the ruleset names, on every interface.</summary>
    private void AddNeighbours(IReadOnlyList<Packet> packets, IEnumerable<Address> extra, string rulesText)
    {
        var learned = new Dictionary<(string, Address), MacAddress>();
        foreach (var p in packets)
            if (p.Ip is { } ip && p.Link is { } link && p.Interface is { } iface && p.Direction != PacketDirection.Outbound)
                learned.TryAdd((iface, ip.Source), link.Source);
        var addresses = new SortedSet<Address>(extra);
        foreach (var r in Host.Routes)
            if (r.Gateway is { } gw) addresses.Add(gw);
        foreach (Match m in Ipv4Literal().Matches(rulesText))
            if (Address.TryParse(m.Value, out var a)) addresses.Add(a);
        var entries = new List<(string, Address, MacAddress)>();
        foreach (var wire in _topology.Wires)
            foreach (var a in addresses)
            {
                if (IsSpecial(a)) continue;
                var e = (wire.InterfaceName, a, learned.GetValueOrDefault((wire.InterfaceName, a), wire.PeerMac));
                if (_neighbours.Add(e)) entries.Add(e);
            }
        _topology.SetNeighbours(entries);
    }

    private static bool IsSpecial(Address a)
    {
        if (a.Family == Family.IPv6) return (a.Value >> 120) == 0xFF || a.Value <= 1;
        uint v = a.ToUInt32();
        return v == 0 || v == 0xFFFFFFFF || (v >> 28) == 0xE || (v >> 24) == 127;
    }

    private void LoadIpsets(string? ipsets)
    {
        Command.RunInNamespace(_topology.FirewallNamespace, "ipset", ["destroy"]);
        if (string.IsNullOrWhiteSpace(ipsets)) return;
        if (!Command.OnPath("ipset")) throw new OracleException("the case uses ipsets: the oracle needs ipset on PATH");
        Command.InNamespace(_topology.FirewallNamespace, "ipset", ["restore"], ipsets);
    }

    private static void WaitUntil(Stopwatch clock, long offsetNs)
    {
        while (true)
        {
            long remainingMs = offsetNs / 1_000_000 - clock.ElapsedMilliseconds;
            if (remainingMs <= 0) return;
            Thread.Sleep((int)Math.Min(remainingMs, 1000));
        }
    }

    [GeneratedRegex(@"(?<![\d.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])")]
    private static partial Regex Ipv4Literal();

    public void Dispose()
    {
        _kernel.Dispose();
        _topology.Dispose();
    }
}
