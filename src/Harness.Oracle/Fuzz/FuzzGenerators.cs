using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;

namespace Harness.Oracle.Fuzz;

/// <summary>
/// FsCheck generators (and a shrinker) for differential cases: small rulesets over filter, nat, mangle and raw with
/// user chains, jump/goto/RETURN, conntrack states, DNAT/SNAT/MASQUERADE/MARK/NOTRACK, and traffic of TCP sessions,
/// UDP and ICMP exchanges, including packets conntrack must call INVALID (bad checksum, ACK without a connection).
/// One generator per family (<see cref="FuzzFamily"/>): iptables over the IPv4 fuzz host, ip6tables over the IPv6 one.
/// The wide mode (<c>Case(family, wide: true)</c>) adds the matches and targets whose result the kernel decides from the
/// packets alone; the plain mode, and so the CI seeds' cases, stay as they were.
/// </summary>
public static class FuzzGenerators
{
    public static ImmutableArray<string> Clients => FuzzFamily.V4.Clients;
    public static ImmutableArray<string> Servers => FuzzFamily.V4.Servers;
    private static readonly ImmutableArray<ushort> ServerPorts = [22, 53, 80, 443, 8080];
    private static readonly string[] UserChains = ["u1", "u2"];

    /// <summary>IPv4 cases (iptables).</summary>
    public static Gen<FuzzCase> Case() => Case(FuzzFamily.V4);

    public static Gen<FuzzCase> Case(FuzzFamily family) => Case(family, wide: false);

    /// <summary>
    /// Cases of <paramref name="family"/>; <paramref name="wide"/> also draws the matches and targets of
    /// <see cref="WideMatches"/> and <see cref="WideTargets"/> (the plain generator, and its seeds' cases, are unchanged).
    /// </summary>
    public static Gen<FuzzCase> Case(FuzzFamily family, bool wide) =>
        from ruleset in Ruleset(family, wide)
        from flowCount in Gen.Choose(1, 3)
        from flows in Gen.ListOf(Flow(family), flowCount)
        from steps in FlowSteps(flows.ToImmutableArray())
        select new FuzzCase(ruleset, [.. flows], steps, family.Ipv6);

    public static Arbitrary<FuzzCase> Arbitrary() => Arb.From(Case(), Shrink);

    private static Gen<FuzzRuleset> Ruleset(FuzzFamily family, bool wide) =>
        from users in Gen.Choose(0, 2)
        from input in Gen.Elements("ACCEPT", "ACCEPT", "DROP")
        from forward in Gen.Elements("ACCEPT", "DROP", "DROP")
        from count in Gen.Choose(1, 8)
        from rules in Gen.ListOf(Rule(family, users, wide), count)
        select new FuzzRuleset(
            [("filter", "INPUT", input), ("filter", "FORWARD", forward)],
            [.. UserChains.Take(users)],
            [.. rules]);

    private static Gen<FuzzRule> Rule(FuzzFamily family, int users, bool wide)
    {
        var places = new List<(string Table, string Chain)>
        {
            ("filter", "FORWARD"), ("filter", "FORWARD"), ("filter", "FORWARD"), ("filter", "INPUT"), ("filter", "OUTPUT"),
            ("nat", "PREROUTING"), ("nat", "POSTROUTING"), ("nat", "POSTROUTING"), ("nat", "OUTPUT"),
            ("mangle", "PREROUTING"), ("mangle", "FORWARD"), ("mangle", "POSTROUTING"),
            ("raw", "PREROUTING"),
        };
        for (int u = 0; u < users; u++) { places.Add(("filter", UserChains[u])); places.Add(("filter", UserChains[u])); }
        return from place in Gen.Elements(places.ToArray())
               from proto in Gen.Elements("", "tcp", "tcp", "udp", family.Icmp)
               from matches in Matches(family, place.Table, place.Chain, proto, wide)
               from target in Target(family, place.Table, place.Chain, proto, users, wide)
               select new FuzzRule(place.Table, place.Chain, Join(Protocol(proto), matches, target));
    }

    private static string Protocol(string proto) => proto.Length == 0 ? "" : "-p " + proto;

    private static string Join(params string[] parts) => string.Join(' ', parts.Where(p => p.Length > 0));

    private static Gen<string> Matches(FuzzFamily family, string table, string chain, string proto, bool wide)
    {
        bool canIn = chain is not ("OUTPUT" or "POSTROUTING");
        bool canOut = chain is not ("PREROUTING" or "INPUT");
        var options = new List<Gen<string>>
        {
            Gen.Constant(""),
            Gen.Elements(family.Clients.Concat(family.Servers).Distinct().ToArray()).Select(a => "-s " + a + family.HostPrefix),
            Gen.Elements(family.Servers.ToArray()).Select(a => "-d " + a + family.HostPrefix),
            Gen.Elements(family.NetMatches.ToArray()),
        };
        if (canIn) options.Add(Gen.Elements("-i eth0", "-i eth1", "! -i eth0"));
        if (canOut) options.Add(Gen.Elements("-o eth0", "-o eth1"));
        if (proto is "tcp" or "udp")
            options.Add(Gen.Elements(ServerPorts.ToArray()).SelectMany(p => Gen.Elements($"--dport {p}", $"--sport {p}", $"! --dport {p}")).Select(s => "-m " + proto + " " + s));
        if (proto == "tcp")
            options.Add(Gen.Elements("-m tcp --tcp-flags FIN,SYN,RST,ACK SYN", "-m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN"));
        if (proto == family.Icmp)
            options.Add(Gen.Elements(family.IcmpTypeMatches.ToArray()));
        if (table != "raw")
            options.Add(Gen.Elements("NEW", "ESTABLISHED", "RELATED", "INVALID", "RELATED,ESTABLISHED", "NEW,INVALID", "UNTRACKED")
                .Select(s => "-m conntrack --ctstate " + s));
        if (table is "filter" or "mangle" && chain != "PREROUTING")
            options.Add(Gen.Constant("-m mark --mark 0x1"));
        if (wide)
        {
            // Half the draws from the plain matches, half from the wide ones.
            var plain = Gen.OneOf(options.ToArray());
            var extra = Gen.OneOf(WideMatches(family, table, chain, proto).ToArray());
            return from n in Gen.Choose(0, 3)
                   from picked in Gen.ListOf(Gen.OneOf(plain, extra), n)
                   select Join(Normalise(picked));
        }
        return from n in Gen.Choose(0, 2)
               from picked in Gen.ListOf(Gen.OneOf(options.ToArray()), n)
               select Join(Normalise(picked));
    }

    /// <summary>
    /// The wide mode's extra matches: ones the kernel decides from the packets (and the state they build) alone —
    /// multiport, iprange, length, ttl/hl, tos/dscp, pkttype, addrtype, connmark, statistic nth, recent
    /// without --seconds, string, comment. Nothing timed (limit, hashlimit, --seconds) or random.
    /// </summary>
    private static List<Gen<string>> WideMatches(FuzzFamily family, string table, string chain, string proto)
    {
        bool v6 = family.Ipv6;
        string c0 = family.Clients[0], c1 = family.Clients[1], s0 = family.Servers[0], s1 = family.Servers[1];
        var options = new List<Gen<string>>
        {
            Gen.Elements($"-m iprange --src-range {c0}-{c1}", $"-m iprange ! --src-range {c0}-{c1}",
                $"-m iprange --dst-range {s0}-{s1}", $"-m iprange --dst-range {s1}-{s1}"),
            // Packet sizes: v4 TCP 40 (+10 data, +4 after TCPMSS), UDP 40, ICMP 36; v6 20 more.
            Gen.Elements(v6
                ? new[] { "-m length --length 60", "-m length --length 56:64", "-m length ! --length 60:69", "-m length --length 70:1500" }
                : ["-m length --length 40", "-m length --length 36:44", "-m length ! --length 40:49", "-m length --length 50:1500"]),
            Gen.Elements(v6
                ? new[] { "-m hl --hl-eq 64", "-m hl --hl-eq 63", "-m hl --hl-lt 64", "-m hl --hl-gt 63", "-m hl ! --hl-eq 64" }
                : ["-m ttl --ttl-eq 64", "-m ttl --ttl-eq 63", "-m ttl --ttl-lt 64", "-m ttl --ttl-gt 63", "-m ttl ! --ttl-eq 64"]),
            Gen.Elements("-m tos --tos 0x10/0x3f", "-m tos ! --tos 0x00/0xff", "-m dscp --dscp 0x0a", "-m dscp ! --dscp 0x00", "-m dscp --dscp 0x04"),
            Gen.Elements("-m pkttype --pkt-type unicast", "-m pkttype ! --pkt-type unicast", "-m pkttype --pkt-type multicast"),
            Gen.Elements(v6
                ? new[] { "-m addrtype --dst-type LOCAL", "-m addrtype ! --dst-type LOCAL", "-m addrtype --src-type UNICAST", "-m addrtype --dst-type MULTICAST" }
                : ["-m addrtype --dst-type LOCAL", "-m addrtype ! --dst-type LOCAL", "-m addrtype --src-type UNICAST", "-m addrtype --dst-type BROADCAST",
                   "-m addrtype --dst-type UNICAST ! --src-type LOCAL"]),
            Gen.Elements("-m connmark --mark 0x1", "-m connmark ! --mark 0x1/0x1", "-m connmark --mark 0x0"),
            Gen.Elements("-m statistic --mode nth --every 2 --packet 0", "-m statistic --mode nth --every 3 --packet 2",
                "-m statistic --mode nth --every 2 --packet 1"),
            Gen.Elements("-m recent --set --name fz --rsource", "-m recent --rcheck --name fz --rsource", "-m recent --rcheck --name fz --hitcount 2",
                "-m recent --update --name fz --rsource --hitcount 3", "-m recent --set --name fz --rdest", "-m recent ! --rcheck --name fz --rdest",
                "-m recent --remove --name fz", "-m recent --rcheck --name fz --rttl",
                v6 ? "-m recent --update --name fz --mask ffff:ffff:ffff:ffff:: --hitcount 2" : "-m recent --update --name fz --mask 255.255.255.0 --hitcount 2"),
            Gen.Elements("-m string --algo bm --string fuzz", "-m string --algo bm --hex-string |0000000000|", "-m string --algo kmp ! --hex-string |00000000000000000000|",
                $"-m string --algo bm --hex-string |0000| --from {(v6 ? 40 : 20)} --to {(v6 ? 60 : 40)}", "-m string --algo bm --icase --string FUZZ --to 10"),
            Gen.Elements("-m comment --comment fz", "-m comment --comment \"a b\""),
        };
        // No connlimit: 6.18's nf_conncount skips its duplicate check and its garbage collection within the jiffy of
        // the list's last collection, so the same connection counts twice when its packets come within one jiffy
        // (kernel-checked: two identical ACKs back to back match --connlimit-above 1, 50 ms apart they do not) —
        // wall-clock timing the injection cannot control (known-differences.md, "connlimit-jiffy").
        if (table is "filter" or "mangle" && chain != "PREROUTING")
            options.Add(Gen.Elements("-m mark --mark 0x1/0x1", "-m mark --mark 0x2/0x2", "-m mark ! --mark 0x0"));
        if (proto is "tcp" or "udp")
            options.Add(Gen.Elements("--dports 22,80:443", "! --dports 53,8080", "--sports 40000:40001,80", "--ports 22,40002", "! --ports 443,40003:40010")
                .Select(s => "-m multiport " + s));
        return options;
    }

    /// <summary>The wide mode's extra targets for a rule in <paramref name="table"/>: LOG, CONNMARK and (mangle) TTL/HL, TOS, DSCP, TCPMSS.</summary>
    private static IEnumerable<string> WideTargets(FuzzFamily family, string table, string proto)
    {
        yield return "-j LOG --log-prefix fz";
        yield return "-j CONNMARK --set-mark 0x1";
        if (table == "mangle")
        {
            yield return "-j CONNMARK --save-mark";
            yield return "-j CONNMARK --restore-mark";
            if (family.Ipv6)
            {
                yield return "-j HL --hl-set 1";
                yield return "-j HL --hl-dec 1";
                yield return "-j HL --hl-inc 2";
            }
            else
            {
                yield return "-j TTL --ttl-set 1";
                yield return "-j TTL --ttl-dec 1";
                yield return "-j TTL --ttl-inc 2";
            }
            yield return "-j TOS --set-tos 0x10";
            yield return "-j TOS --set-tos 0x04/0x0f";
            yield return "-j TOS --or-tos 0x08";
            yield return "-j TOS --xor-tos 0x10";
            yield return "-j DSCP --set-dscp 0x0a";
            yield return "-j DSCP --set-dscp-class EF";
            yield return "-j CONNMARK --set-xmark 0x2/0x3";
            yield return "-j CONNMARK --save-mark --nfmask 0x1 --ctmask 0x1";
            yield return "-j CONNMARK --restore-mark --mask 0x1";
            yield return "-j MARK --set-xmark 0x3/0x1";
            // Without the usual "-m tcp --tcp-flags SYN,RST SYN" (iptables-nft does not ask for it): a second "-m tcp"
            // next to a generated one is folded into the first by the rule parser, while the kernel tests both
            // (a parser difference, reported, not fuzzed). TCPMSS then also meets ACKs and data segments.
            if (proto == "tcp") yield return "-j TCPMSS --set-mss 1000";
        }
    }

    /// <summary>Keeps at most one match of each kind (iptables refuses "-s" twice).</summary>
    private static string[] Normalise(IEnumerable<string> matches)
    {
        var kept = new List<string>();
        var kinds = new HashSet<string>();
        foreach (var m in matches.Where(m => m.Length > 0))
        {
            var kind = m.Replace("! ", "", StringComparison.Ordinal).Split(' ')[0] switch
            {
                "-m" => m.Replace("! ", "", StringComparison.Ordinal).Split(' ')[1],
                var k => k,
            };
            if (kinds.Add(kind)) kept.Add(m);
        }
        return [.. kept];
    }

    private static Gen<string> Target(FuzzFamily family, string table, string chain, string proto, int users, bool wide)
    {
        var chainIndex = Array.IndexOf(UserChains, chain);
        var later = UserChains.Skip(chainIndex + 1).Take(Math.Max(0, users - chainIndex - 1)).ToArray();
        var targets = new List<string>();
        switch (table)
        {
            case "filter":
                targets.AddRange(["-j ACCEPT", "-j DROP", "-j DROP", "-j REJECT", "-j RETURN", ""]);
                if (chainIndex < 0 && users > 0) targets.AddRange(UserChains.Take(users).SelectMany(u => new[] { "-j " + u, "-g " + u }));
                else targets.AddRange(later.SelectMany(u => new[] { "-j " + u, "-g " + u }));
                if (proto == "tcp") targets.Add("-j REJECT --reject-with tcp-reset");
                targets.AddRange(family.ExtraRejects);
                break;
            case "nat" when chain is "PREROUTING" or "OUTPUT":
                targets.AddRange(["-j DNAT --to-destination " + family.DnatAddress, "-j ACCEPT", "-j RETURN"]);
                if (proto is "tcp" or "udp") targets.Add("-j DNAT --to-destination " + family.DnatAddressWithPort);
                break;
            case "nat":
                targets.AddRange(["-j MASQUERADE", "-j ACCEPT", "-j RETURN"]);
                targets.AddRange(family.SnatSources.Select(a => "-j SNAT --to-source " + a));
                break;
            case "mangle":
                targets.AddRange(["-j MARK --set-xmark 0x1/0xffffffff", "-j ACCEPT", "-j RETURN", "-j DROP"]);
                break;
            default:
                targets.AddRange(["-j CT --notrack", "-j ACCEPT", "-j DROP"]);
                break;
        }
        if (wide) targets.AddRange(WideTargets(family, table, proto));
        return Gen.Elements(targets.ToArray());
    }

    private static Gen<FuzzFlow> Flow(FuzzFamily family) =>
        from proto in Gen.Elements((byte)6, (byte)6, (byte)17, family.IcmpProtocol)
        from client in Gen.Elements(family.Clients.ToArray())
        from server in Gen.Elements(family.Servers.Where(s => s != client).ToArray())
        from cport in Gen.Choose(40000, 40003)
        from sport in Gen.Elements(ServerPorts.ToArray())
        select new FuzzFlow(proto, client, server, (ushort)cport, sport);

    private static Gen<ImmutableArray<FuzzStep>> FlowSteps(ImmutableArray<FuzzFlow> flows)
    {
        var perFlow = flows.Select((f, i) => StepsOf(f, i)).ToArray();
        return from lists in Gen.CollectToList(perFlow, g => g)
               select lists.SelectMany(l => l).ToImmutableArray();
    }

    private static Gen<IEnumerable<FuzzStep>> StepsOf(FuzzFlow flow, int index)
    {
        StepKind[] script = flow.Protocol switch
        {
            6 => [StepKind.Syn, StepKind.SynAck, StepKind.Ack, StepKind.ClientData, StepKind.ServerData, StepKind.ClientFin, StepKind.ServerFin, StepKind.Ack],
            17 => [StepKind.UdpRequest, StepKind.UdpResponse, StepKind.UdpRequest],
            _ => [StepKind.EchoRequest, StepKind.EchoReply],
        };
        var oddities = flow.Protocol == 6 ? new[] { StepKind.ClientRst, StepKind.BadChecksum, StepKind.StrayAck } : [];
        return from keep in Gen.ArrayOf(Gen.Frequency((6, Gen.Constant(true)), (1, Gen.Constant(false))), script.Length)
               from oddity in oddities.Length == 0 ? Gen.Constant<StepKind?>(null) : Gen.Frequency((2, Gen.Constant<StepKind?>(null)), (1, Gen.Elements(oddities).Select(k => (StepKind?)k)))
               from at in Gen.Choose(0, script.Length)
               select Insert(script.Where((_, i) => keep[i]).ToList(), oddity, at).Select(k => new FuzzStep(index, k));
    }

    private static List<StepKind> Insert(List<StepKind> steps, StepKind? oddity, int at)
    {
        if (oddity is { } k) steps.Insert(Math.Min(at, steps.Count), k);
        return steps;
    }

    /// <summary>Smaller versions of a case: one rule, one step or one user chain fewer; a policy back to ACCEPT.</summary>
    public static IEnumerable<FuzzCase> Shrink(FuzzCase c)
    {
        for (int i = 0; i < c.Steps.Length; i++)
            yield return c with { Steps = c.Steps.RemoveAt(i) };
        for (int i = 0; i < c.Ruleset.Rules.Length; i++)
            yield return c with { Ruleset = c.Ruleset with { Rules = c.Ruleset.Rules.RemoveAt(i) } };
        for (int i = 0; i < c.Ruleset.Policies.Length; i++)
            if (c.Ruleset.Policies[i].Policy != "ACCEPT")
                yield return c with { Ruleset = c.Ruleset with { Policies = c.Ruleset.Policies.SetItem(i, c.Ruleset.Policies[i] with { Policy = "ACCEPT" }) } };
    }
}

/// <summary>
/// What the generators need to know of an address family: the fuzz host's clients and servers, the protocol name and
/// type matches of its ICMP, NAT addresses, and its extra REJECT types.
/// </summary>
public sealed record FuzzFamily(bool Ipv6, ImmutableArray<string> Clients, ImmutableArray<string> Servers, string HostPrefix,
    ImmutableArray<string> NetMatches, string Icmp, byte IcmpProtocol, ImmutableArray<string> IcmpTypeMatches, string DnatAddress,
    string DnatAddressWithPort, ImmutableArray<string> SnatSources, ImmutableArray<string> ExtraRejects)
{
    /// <summary>The IPv4 fuzz host (FuzzTraffic.Host): clients and servers on both sides.</summary>
    public static readonly FuzzFamily V4 = new(false,
        ["10.0.0.2", "10.0.0.3", "10.1.0.2"], ["10.1.0.2", "10.1.0.3", "10.0.0.3"], "/32",
        ["-s 10.0.0.0/24", "-d 10.1.0.0/24", "! -s 10.0.0.0/24"],
        "icmp", 1, ["-m icmp --icmp-type 8", "-m icmp --icmp-type 0"],
        "10.1.0.3", "10.1.0.2:80", ["10.1.0.1", "10.0.0.1"], []);

    /// <summary>
    /// The IPv6 fuzz host (FuzzTraffic.Host6), laid out as the IPv4 one: clients and servers on both sides.
    /// </summary>
    public static readonly FuzzFamily V6 = new(true,
        ["2001:db8::2", "2001:db8::3", "2001:db8:1::2"], ["2001:db8:1::2", "2001:db8:1::3", "2001:db8::3"], "/128",
        ["-s 2001:db8::/64", "-d 2001:db8:1::/64", "! -s 2001:db8::/64"],
        "icmpv6", 58, ["-m icmp6 --icmpv6-type 128", "-m icmp6 --icmpv6-type 129", "-m icmp6 --icmpv6-type 1"],
        "2001:db8:1::3", "[2001:db8:1::2]:80", ["2001:db8:1::1", "2001:db8::1"],
        ["-j REJECT --reject-with icmp6-adm-prohibited", "-j REJECT --reject-with icmp6-addr-unreachable",
         "-j REJECT --reject-with icmp6-no-route"]);
}
