using System.Collections.Immutable;
using Harness.Engine.Conntrack;
using Harness.Engine.Routing;
using Harness.Engine.Walk;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine;

/// <summary>
/// The deterministic model of netfilter for one case: the host's routing, the IPv4 and IPv6 rulesets compiled once,
/// conntrack and NAT state, and the seeded random source. Feed it packets in capture order; each yields one outcome
/// (plus one per packet the host generated in answer: REJECT replies, ICMP errors).
/// </summary>
public sealed partial class Engine
{
    private readonly EngineRuntime _runtime;
    private readonly CompiledRuleset? _ipv4;
    private readonly CompiledRuleset? _ipv6;

    /// <summary>
    /// The path list every packet records into: packets are processed one at a time, and a packet's path is copied into
    /// its outcome before the next packet (or a reply it caused) starts.
    /// </summary>
    private readonly List<PathStep> _pathBuffer = new(32);

    /// <summary>One shared array per distinct path for the outcomes (see <see cref="PathInterner"/>).</summary>
    private readonly PathInterner _paths = new();

    /// <summary>The state of the captured packet being processed (see <see cref="PacketState.Reset"/>).</summary>
    private readonly PacketState _state;

    /// <summary>IP fragment reassembly before conntrack (nf_defrag_ipv4 / nf_defrag_ipv6).</summary>
    private readonly Defrag _defrag;

    /// <summary>Set while the captured packet being processed completed a datagram (its outcome then says so).</summary>
    private DefragResult? _reassembled;

    private Engine(Host host, Ruleset? ipv4, Ruleset? ipv6, EngineOptions options)
    {
        _runtime = new EngineRuntime(host, options)
        {
            Backend = options.Backend ?? ipv4?.Backend ?? ipv6?.Backend ?? IptablesBackend.Nft,
        };
        if (ipv4 is not null && ipv4.Family != Family.IPv4) throw new EngineSetupException("the IPv4 ruleset is an IPv6 ruleset");
        if (ipv6 is not null && ipv6.Family != Family.IPv6) throw new EngineSetupException("the IPv6 ruleset is an IPv4 ruleset");
        _ipv4 = ipv4 is null ? null : new CompiledRuleset(ipv4, _runtime);
        _ipv6 = ipv6 is null ? null : new CompiledRuleset(ipv6, _runtime);
        Counters = new RuleCounters(_ipv4, _ipv6);
        _state = new PacketState(null!, _runtime, _pathBuffer);
        _defrag = new Defrag(host.Sysctls);
    }

    /// <summary>Compiles the rulesets for the host. Throws <see cref="EngineSetupException"/> naming the first rule that cannot be evaluated.</summary>
    public static Engine Create(Ruleset? ipv4, Ruleset? ipv6, Host host, EngineOptions options) => new(host, ipv4, ipv6, options);

    /// <summary>Per-rule packet and byte counters after the packets processed so far, like iptables -L -v.</summary>
    public RuleCounters Counters { get; }

    /// <summary>The `-m recent` table NAME as it stands (what /proc/net/xt_recent/NAME lists), or null when no rule names it.</summary>
    public Matches.RecentEvaluator.RecentTable? RecentTable(string name) =>
        _runtime.RecentTables.GetValueOrDefault("recent:" + name) as Matches.RecentEvaluator.RecentTable;

    public Host Host => _runtime.Host;

    public Fib Fib => _runtime.Fib;

    /// <summary>How many fragmented datagrams are held incomplete for reassembly (not yet expired) after the packets so far.</summary>
    public int HeldDatagrams => _defrag.Pending;

    /// <summary>The ipsets as the packets so far left them (members, expiries, counters), like `ipset list`.</summary>
    public IReadOnlyDictionary<string, LiveIpSet> LiveSets => _runtime.LiveSets;

    /// <summary>Processes every packet in order.</summary>
    public IEnumerable<Outcome> Replay(IEnumerable<Packet> packets)
    {
        foreach (var packet in packets)
            foreach (var outcome in Process(packet))
                yield return outcome;
    }

    /// <summary>
    /// Runs one packet through the host: its own outcome first, then the outcome of every packet the host generated
    /// because of it (REJECT's reply, ICMP errors), each marked <see cref="Outcome.Generated"/>.
    /// </summary>
    public IReadOnlyList<Outcome> Process(Packet packet)
    {
        _runtime.Observe(packet.Time);
        if (packet.Direction == PacketDirection.Outbound)
            return [Simple(packet, FinalVerdict.Accept, Disposition.ObservedEgress, null) with { OutInterface = packet.Interface, InInterface = null }];
        if (packet.Ip is null)
            return [Simple(packet, FinalVerdict.Drop, Disposition.Dropped, packet.DecodeError ?? "not an IP packet")];
        if (packet.DecodeError is not null)
            return [Simple(packet, FinalVerdict.Drop, Disposition.Dropped, packet.DecodeError)];
        if (packet.Ip.Family == Family.IPv4 && !packet.Ip.HeaderChecksumValid)
            return [Simple(packet, FinalVerdict.Drop, Disposition.Dropped, "bad IPv4 header checksum")];

        // One state for every captured packet, reset each time; forgotten afterwards, so that the long-lived state
        // never points at a finished packet's objects.
        var state = _state;
        state.Reset(packet);
        try
        {
            Outcome outcome = IsLocallyGenerated(packet) ? RunLocal(state) : RunArrival(state);
            if (_reassembled is { } whole) outcome = NoteReassembly(outcome, whole);
            if (state.Generated is null) return [outcome];
            var all = new List<Outcome>(1 + state.Generated.Count) { outcome };
            all.AddRange(state.Generated);
            return all;
        }
        finally
        {
            state.Reset(null);
            _reassembled = null;
        }
    }

    private bool IsLocallyGenerated(Packet packet)
    {
        if (_runtime.Options.LocallyGenerated is { } set && set.Contains(packet.Number)) return true;
        return packet.Interface is null && _runtime.Fib.IsLocalAddress(packet.Ip!.Source);
    }

    private CompiledRuleset? RulesetFor(Family family) => family == Family.IPv4 ? _ipv4 : _ipv6;

    private Outcome Simple(Packet packet, FinalVerdict verdict, Disposition disposition, string? reason) => new()
    {
        PacketNumber = packet.Number,
        Time = packet.Time,
        InInterface = packet.Interface ?? _runtime.Options.DefaultInterface,
        Verdict = verdict,
        Disposition = disposition,
        Reason = reason,
        Packet = packet,
    };

    // ------------------------------------------------------------------ arrivals

    private Outcome RunArrival(PacketState s)
    {
        var iface = s.Packet.Interface ?? _runtime.Options.DefaultInterface;
        if (iface is null)
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, "the capture does not say which interface the packet arrived on (give a default interface)", null);
        s.InInterface = iface;
        var hostIface = _runtime.Interface(iface);
        if (hostIface is null && !_runtime.Host.Interfaces.IsDefaultOrEmpty)
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, $"the host has no interface \"{iface}\"", null);
        if (hostIface is not null && s.Packet.Link is { } link && !hostIface.IsLoopback
            && !link.Destination.IsMulticast && link.Destination != hostIface.Mac && hostIface.Mac.Value != 0)
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, "destination MAC is not this host's (PACKET_OTHERHOST)", null);
        if (Reassembly.IsFragment(s.Packet))
        {
            if (Defragment(s, Hook.Prerouting, iface) is { } taken) return taken;
            s.InInterface = iface;
        }
        if (MartianSource(s.Ip.Source) is { } martian)
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, martian, null);

        if (!RunHook(s, Hook.Prerouting, out var stop)) return stop!;

        var route = _runtime.Fib.Lookup(s.Ip.Destination, s.Ip.Source, s.Mark, s.InInterface);
        s.Route = route;
        // ip_route_input (ip_check_mc_rcu) and ip6_mc_input: a multicast for a group the host has not joined on the
        // arriving device is dropped after PREROUTING, before INPUT (no multicast routing is modelled)
        if (route.Kind == RouteKind.Multicast && hostIface is not null && !IsMember(hostIface, s.Ip.Destination))
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped,
                $"multicast group {s.Ip.Destination} not joined on {hostIface.Name}", Hook.Prerouting);
        if (ValidateSource(s) is { } invalid)
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, invalid, Hook.Prerouting);

        if (route.IsLocal)
        {
            if (!RunHook(s, Hook.Input, out stop)) return stop!;
            if (ConfirmConntrack(s) is { } why) return Finish(s, FinalVerdict.Drop, Disposition.Dropped, why, Hook.Input);
            return Finish(s, FinalVerdict.Accept, Disposition.Delivered, null, null);
        }
        return Forward(s, route);
    }

    private Outcome Forward(PacketState s, RouteResult route)
    {
        bool forwarding = s.Family == Family.IPv4 ? _runtime.IpForward : _runtime.Ipv6Forwarding;
        switch (route.Kind)
        {
            case RouteKind.Blackhole:
                return Finish(s, FinalVerdict.Drop, Disposition.Dropped, "blackhole route", Hook.Prerouting);
            case RouteKind.Unreachable or RouteKind.Prohibit or RouteKind.NoRoute when !forwarding:
                return Finish(s, FinalVerdict.Drop, Disposition.Dropped, "forwarding disabled", Hook.Prerouting);
            case RouteKind.Unreachable or RouteKind.Prohibit or RouteKind.NoRoute:
            {
                // ip_error / ip6_pkt_drop: the host answers with destination unreachable (net, host, or administratively
                // prohibited), which goes out through OUTPUT like any packet it makes.
                byte code = (s.Family, route.Kind) switch
                {
                    (Family.IPv4, RouteKind.NoRoute) => 0,
                    (Family.IPv4, RouteKind.Unreachable) => 1,
                    (Family.IPv4, _) => 13,
                    (_, RouteKind.Prohibit) => 1,
                    _ => 0,
                };
                // The error first (a rate limit may hold it back, which the outcome's reason then says), then the outcome.
                var error = Replies.IcmpError(s, _runtime, s.Family == Family.IPv4 ? (byte)3 : (byte)1, code);
                var outcome = Finish(s, FinalVerdict.Drop, Disposition.Dropped,
                    route.Kind switch { RouteKind.Prohibit => "prohibit route", RouteKind.Unreachable => "unreachable route", _ => "no route" }, Hook.Prerouting);
                if (error is not null) SendGenerated(s, error);
                return outcome;
            }
        }
        if (!forwarding)
            return Finish(s, FinalVerdict.Drop, Disposition.Dropped, "forwarding disabled", Hook.Prerouting);
        if (s.Ip.Ttl <= 1)
        {
            var error = Replies.TimeExceeded(s, _runtime);
            var outcome = Finish(s, FinalVerdict.Drop, Disposition.Dropped, s.Family == Family.IPv4 ? "TTL exceeded in forwarding" : "hop limit exceeded in forwarding", Hook.Prerouting);
            if (error is not null) SendGenerated(s, error);
            return outcome;
        }
        if (TooBigToForward(s, route) is { } tooBig) return tooBig;
        DecrementTtl(s);
        s.OutInterface = route.Device;
        if (!RunHook(s, Hook.Forward, out var stop)) return stop!;
        if (!RunHook(s, Hook.Postrouting, out stop)) return stop!;
        if (ConfirmConntrack(s) is { } why) return Finish(s, FinalVerdict.Drop, Disposition.Dropped, why, Hook.Postrouting);
        return Egress(s, Disposition.Forwarded);
    }

    /// <summary>ip_forward's TTL (hop limit) decrement, in the bytes too unless the engine keeps fields only.</summary>
    private void DecrementTtl(PacketState s)
    {
        if (_runtime.Options.RebuildBytes)
            s.RewriteOwned(HeaderRewrite.WithTtl(s.Packet, (byte)(s.Ip.Ttl - 1), s.OwnBytes()));
        else
            s.Rewrite(s.Packet with { Ip = s.Ip with { Ttl = (byte)(s.Ip.Ttl - 1) } });
    }

    /// <summary>Sources the kernel refuses before routing (ip_route_input_slow's martian checks), IPv4 only.</summary>
    private static string? MartianSource(Address source)
    {
        if (source.Family != Family.IPv4) return (source.Value >> 120) == 0xFF ? "martian source (multicast)" : null;
        uint v = (uint)source.Value;
        if ((v >> 28) == 0xE) return "martian source (multicast)";
        if (v == 0xFFFF_FFFF) return "martian source (broadcast)";
        return null;
    }

    /// <summary>fib_validate_source: a local or loopback source from outside, and rp_filter strict/loose.</summary>
    private string? ValidateSource(PacketState s)
    {
        if (s.Family != Family.IPv4 || s.InInterface == "lo") return null;
        var iface = _runtime.Interface(s.InInterface);
        if (iface is { IsLoopback: true }) return null;
        var src = s.Ip.Source;
        uint v = (uint)src.Value;
        if (v == 0) return (s.Route!.IsLocal) ? null : "martian source (0.0.0.0)";
        if ((v >> 24) == 127) return "martian source (loopback address from outside)";
        if (_runtime.Fib.IsLocalAddress(src)) return "martian source (one of this host's addresses)";
        int rp = _runtime.RpFilter(s.InInterface!);
        if (rp == 0) return null;
        var back = _runtime.Fib.Lookup(src, s.Ip.Destination, s.Mark, s.InInterface);
        if (back.Kind != RouteKind.Unicast) return "rp_filter: no route back to the source";
        if (rp == 1 && back.Device != s.InInterface) return $"rp_filter: the route back to the source leaves by {back.Device}, not {s.InInterface}";
        return null;
    }

    // ------------------------------------------------------------------ locally generated

    private Outcome RunLocal(PacketState s)
    {
        if (!s.IsGeneratedPacket && Reassembly.IsFragment(s.Packet) && Defragment(s, Hook.Output, null) is { } taken) return taken;
        s.LocallyGenerated = true;
        if (_runtime.Options.Owners is { } owners && owners.TryGetValue(s.Packet.Number, out var owner)) s.Owner = owner;
        var route = OutputRoute(s.Ip.Destination, s.Ip.Source, s.Mark);
        if (!Routable(route, out var noRoute)) return Finish(s, FinalVerdict.Drop, Disposition.Dropped, noRoute, null);
        s.Route = route;
        s.OutInterface = ThroughLoopback(route) ? LoopbackName() : route.Device;
        if (!RunHook(s, Hook.Output, out var stop)) return stop!;
        if (s.Route != route) route = s.Route!;
        if (!ThroughLoopback(route))
            return route.Kind is RouteKind.Broadcast or RouteKind.Multicast ? SendAndLoop(s, route) : SendOut(s);
        if (!RunHook(s, Hook.Postrouting, out stop)) return stop!;
        if (ConfirmConntrack(s) is { } why) return Finish(s, FinalVerdict.Drop, Disposition.Dropped, why, Hook.Postrouting);

        // Loopback: the packet comes back in through lo, keeping its conntrack entry (already confirmed).
        s.InInterface = s.OutInterface;
        s.OutInterface = null;
        if (!RunHook(s, Hook.Prerouting, out stop)) return stop!;
        if (!RunHook(s, Hook.Input, out stop)) return stop!;
        return Finish(s, FinalVerdict.Accept, Disposition.Delivered, null, null);
    }

    /// <summary>POSTROUTING, confirmation and the way out by the route's device.</summary>
    private Outcome SendOut(PacketState s)
    {
        if (!RunHook(s, Hook.Postrouting, out var stop)) return stop!;
        if (ConfirmConntrack(s) is { } why) return Finish(s, FinalVerdict.Drop, Disposition.Dropped, why, Hook.Postrouting);
        return Egress(s, Disposition.Sent);
    }

    /// <summary>
    /// A broadcast or multicast the host sends by a device other than lo leaves by that device (Sent); when the host
    /// itself receives it (every broadcast; a multicast group the host is a member of on that device, with
    /// IP_MULTICAST_LOOP on, its default) a clone crosses POSTROUTING too and comes back in on the same device,
    /// keeping the conntrack entry (dev_loopback_xmit): PREROUTING, INPUT, delivered without a route lookup (the clone
    /// keeps its output route). The clone is an outcome of its own after the original's, marked Generated. IPv4
    /// (ip_mc_output) clones before the original's POSTROUTING, IPv6 (ip6_finish_output2) after it.
    /// </summary>
    private Outcome SendAndLoop(PacketState s, RouteResult route)
    {
        if (!LoopsBack(route, s.Ip.Destination)) return SendOut(s);
        string device = route.Device!;
        var copy = new PacketState(s.Packet, _runtime)
        {
            Dirty = s.Dirty,
            LocallyGenerated = true,
            OutInterface = device,
            Mark = s.Mark,
            Route = route,
            Conntrack = s.Conntrack,
            Template = s.Template,
            RawTemplateIgnored = s.RawTemplateIgnored,
            Traced = s.Traced,
            Owner = s.Owner,
            IsGeneratedPacket = true,
            GeneratedDepth = s.GeneratedDepth, // a copy, not an answer
        };
        Outcome? copyStopped = null;
        bool copyPassed = false;
        void CopyThroughPostrouting()
        {
            if (!RunHook(copy, Hook.Postrouting, out var stopped)) copyStopped = stopped;
            else if (ConfirmConntrack(copy) is { } why) copyStopped = Finish(copy, FinalVerdict.Drop, Disposition.Dropped, why, Hook.Postrouting);
            else copyPassed = true;
        }

        Outcome original;
        if (s.Family == Family.IPv4)
        {
            CopyThroughPostrouting();
            original = SendOut(s);
        }
        else
        {
            original = SendOut(s);
            if (original.Disposition != Disposition.Sent) return original; // ip6_finish_output2 is never reached
            CopyThroughPostrouting();
        }
        Outcome looped;
        if (!copyPassed)
        {
            looped = copyStopped!;
        }
        else
        {
            copy.InInterface = device;
            copy.OutInterface = null;
            looped = !RunHook(copy, Hook.Prerouting, out var stopped) ? stopped!
                : !RunHook(copy, Hook.Input, out stopped) ? stopped!
                : Finish(copy, FinalVerdict.Accept, Disposition.Delivered, null, null);
        }
        looped = looped with
        {
            Reason = (looped.Reason is null ? "" : looped.Reason + "; ") + "the host's own copy of a " + (route.Kind == RouteKind.Broadcast ? "broadcast" : "multicast") + " sent on " + device,
        };
        // the clone's outcome follows the original's, before anything the original caused
        var generated = s.Generated;
        s.Generated = null;
        s.AddGenerated(looped);
        if (copy.Generated is not null) foreach (var g in copy.Generated) s.AddGenerated(g);
        if (generated is not null) foreach (var g in generated) s.AddGenerated(g);
        return original;
    }

    /// <summary>
    /// Whether a locally sent broadcast or multicast is also received by the host (the output route's RTCF_LOCAL):
    /// always for a broadcast; for multicast when the host is a member of the group on the device (<see cref="IsMember"/>).
    /// </summary>
    private bool LoopsBack(RouteResult route, Address destination)
    {
        if (route.Kind == RouteKind.Broadcast) return true;
        var iface = route.Device is null ? null : _runtime.Interface(route.Device);
        return iface is not null && IsMember(iface, destination);
    }

    /// <summary>
    /// Whether the host is a member of multicast <paramref name="group"/> on <paramref name="iface"/>: a group the host
    /// lists for the device (<see cref="HostInterface.MulticastGroups"/>, from `ip maddr` or the host YAML), or one the
    /// kernel joins by itself (224.0.0.1, ff01::1, ff02::1, solicited-node groups, all-routers with IPv6 forwarding).
    /// </summary>
    private bool IsMember(HostInterface iface, Address group) => iface.IsMember(group, _runtime.Ipv6Forwarding);

    /// <summary>
    /// The route of a packet the host makes: the FIB's, with the device filled in for 255.255.255.255 and multicast
    /// (which the FIB answers without one): the device of the packet's source address (as the kernel picks it for a
    /// socket bound to that address, or the device a link-local source belongs to), else the device of the tables'
    /// route to the destination (a default route, a 224.0.0.0/4 or ff00::/8 route).
    /// </summary>
    private RouteResult OutputRoute(Address destination, Address source, uint mark)
    {
        var route = _runtime.Fib.Lookup(destination, source, mark, null);
        if (route.Kind is not (RouteKind.Broadcast or RouteKind.Multicast) || route.Device is not null) return route;
        return _runtime.Fib.OutputDevice(destination, source, mark) is { } device
            ? route with { Device = device }
            : new RouteResult(RouteKind.NoRoute, null, null, null, 0);
    }

    /// <summary>A packet to one of the host's own addresses, or any route by a loopback device, goes round through lo.</summary>
    private bool ThroughLoopback(RouteResult route) =>
        route.Kind == RouteKind.Local
        || (route.Kind is RouteKind.Broadcast or RouteKind.Multicast && (route.Device is null || _runtime.Interface(route.Device) is { IsLoopback: true }));

    private string LoopbackName() =>
        _runtime.Host.Interfaces.FirstOrDefault(i => i.IsLoopback)?.Name ?? "lo";

    private static bool Routable(RouteResult route, out string reason)
    {
        reason = route.Kind switch
        {
            RouteKind.NoRoute => "no route",
            RouteKind.Unreachable => "unreachable route",
            RouteKind.Prohibit => "prohibit route",
            RouteKind.Blackhole => "blackhole route",
            _ => "",
        };
        return reason.Length == 0;
    }

    /// <summary>After OUTPUT changed the destination or the mark: route again (ip_route_me_harder).</summary>
    private void Reroute(PacketState s)
    {
        var route = OutputRoute(s.Ip.Destination, s.Ip.Source, s.Mark);
        if (route == s.Route) return;
        s.Route = route;
        if (route.Kind is RouteKind.Unicast or RouteKind.Local or RouteKind.Broadcast or RouteKind.Multicast)
            s.OutInterface = ThroughLoopback(route) ? LoopbackName() : route.Device;
    }

    // ------------------------------------------------------------------ fragments

    /// <summary>
    /// The defrag step (priority -400, before raw): a fragment that does not complete its datagram stops here (held,
    /// or thrown away by reassembly) with an outcome of its own and an empty path; the one that completes it is replaced
    /// by the whole datagram, which then crosses netfilter as one packet. Null when the packet goes on.
    /// </summary>
    private Outcome? Defragment(PacketState s, Hook hook, string? iface)
    {
        var result = _defrag.Gather(s.Packet, hook, iface);
        switch (result.Status)
        {
            case DefragStatus.Held:
                return Taken(s, hook, iface, FinalVerdict.Stolen, Disposition.Held, result.Reason);
            case DefragStatus.Discarded:
                return Taken(s, hook, iface, FinalVerdict.Drop, Disposition.Dropped, result.Reason);
            case DefragStatus.Complete:
                s.Reset(result.Datagram);
                _reassembled = result;
                return null;
            default:
                return null;
        }
    }

    private static Outcome Taken(PacketState s, Hook hook, string? iface, FinalVerdict verdict, Disposition disposition, string? reason) => new()
    {
        PacketNumber = s.Packet.Number,
        Time = s.Packet.Time,
        InInterface = iface,
        Verdict = verdict,
        Disposition = disposition,
        Reason = reason,
        DroppedAt = hook,
        Packet = s.Packet,
    };

    /// <summary>
    /// The outcome of a reassembled datagram says how many fragments made it and, when it leaves the host, how many it
    /// leaves as (in the pieces it came in when they fit, else cut again to the largest fragment received or the
    /// route's MTU (<see cref="Mtu"/>), whichever is smaller: <see cref="Reassembly.FragmentCount"/>).
    /// </summary>
    private Outcome NoteReassembly(Outcome outcome, DefragResult whole)
    {
        var note = Invariant($"reassembled from {whole.Fragments} fragments");
        if (outcome.Disposition is Disposition.Forwarded or Disposition.Sent && outcome.OutInterface is { } device)
        {
            int mtu = (_state.Route is { } route ? Mtu.Of(_runtime, route, outcome.Packet.Ip!.Family, forwardCheck: false) : null)
                ?? _runtime.Interface(device)?.Mtu ?? 1500;
            int count = Reassembly.FragmentCount(outcome.Packet, mtu, whole.MaxFragmentSize, whole.Pieces);
            note += count > 1
                ? Invariant($"; leaves as {count} fragments (largest fragment received {whole.MaxFragmentSize} bytes, MTU {mtu})")
                : "; leaves whole";
        }
        return outcome with { Reason = outcome.Reason is null ? note : outcome.Reason + " (" + note + ")" };
    }
}
