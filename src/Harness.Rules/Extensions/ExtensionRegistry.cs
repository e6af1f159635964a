using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>
/// Every match and target Harness understands, one registration each: its name, family, and the kernel's
/// table/hook limits (checkentry). Anything not listed here is an error naming the module.
/// </summary>
public static class ExtensionRegistry
{
    private static ImmutableArray<string> T(params string[] names) => [.. names];

    private const string Pre = TableNames.Prerouting, In = TableNames.Input, Fwd = TableNames.Forward,
        Out = TableNames.Output, Post = TableNames.Postrouting;

    private static IEnumerable<MatchDefinition> BuildMatches(Family f)
    {
        yield return new MatchDefinition("tcp", () => new TcpMatchParser());
        yield return new MatchDefinition("udp", () => new UdpMatchParser());
        if (f == Family.IPv4) yield return new MatchDefinition("icmp", () => new IcmpMatchParser(), Family.IPv4);
        if (f == Family.IPv6)
            yield return new MatchDefinition("icmp6", () => new Icmp6MatchParser(), Family.IPv6) { Aliases = T("icmpv6", "ipv6-icmp") };
        yield return new MatchDefinition("multiport", () => new MultiportMatchParser());
        yield return new MatchDefinition("conntrack", () => new ConntrackMatchParser(f));
        yield return new MatchDefinition("state", () => new StateMatchParser());
        yield return new MatchDefinition("comment", () => new CommentMatchParser());
        yield return new MatchDefinition("limit", () => new LimitMatchParser());
        yield return new MatchDefinition("mark", () => new MarkMatchParser());
        yield return new MatchDefinition("iprange", () => new IprangeMatchParser(f));
        yield return new MatchDefinition("addrtype", () => new AddrtypeMatchParser());
        yield return new MatchDefinition("connmark", () => new ConnmarkMatchParser());
        yield return new MatchDefinition("mac", () => new MacMatchParser(), null, default, T(Pre, In, Fwd));
        yield return new MatchDefinition("statistic", () => new StatisticMatchParser());
        yield return new MatchDefinition("recent", () => new RecentMatchParser(f));
        yield return new MatchDefinition("connlimit", () => new ConnlimitMatchParser(f));
        yield return new MatchDefinition("hashlimit", () => new HashlimitMatchParser(f));
        yield return new MatchDefinition("length", () => new LengthMatchParser());
        if (f == Family.IPv4)
            yield return new MatchDefinition("ttl", () => new TtlLikeParser("ttl", (c, v) => new TtlMatch(c, v)), Family.IPv4);
        if (f == Family.IPv6)
            yield return new MatchDefinition("hl", () => new TtlLikeParser("hl", (c, v) => new HlMatch(c, v)), Family.IPv6);
        yield return new MatchDefinition("tos", () => new TosMatchParser());
        yield return new MatchDefinition("dscp", () => new DscpMatchParser());
        yield return new MatchDefinition("pkttype", () => new PkttypeMatchParser());
        yield return new MatchDefinition("physdev", () => new PhysdevMatchParser());
        yield return new MatchDefinition("set", () => new SetMatchParser());
        yield return new MatchDefinition("owner", () => new OwnerMatchParser(), null, default, T(Out, Post));
        yield return new MatchDefinition("helper", () => new HelperMatchParser());
        yield return new MatchDefinition("nfacct", () => new NfacctMatchParser());
        yield return new MatchDefinition("sctp", () => new SctpMatchParser());
        yield return new MatchDefinition("policy", () => new PolicyMatchParser(f));
        if (f == Family.IPv6) yield return new MatchDefinition("rt", () => new RtMatchParser(), Family.IPv6);
        yield return new MatchDefinition("string", () => new StringMatchParser());
        yield return new MatchDefinition("time", () => new TimeMatchParser());
        yield return new MatchDefinition("u32", () => new U32MatchParser());
        yield return new MatchDefinition("rpfilter", () => new RpfilterMatchParser(), null, T(TableNames.Raw, TableNames.Mangle), T(Pre));
    }

    private static IEnumerable<TargetDefinition> BuildTargets(Family f)
    {
        yield return new TargetDefinition("REJECT", () => new RejectTargetParser(f), null, T(TableNames.Filter), T(In, Fwd, Out));
        yield return new TargetDefinition("LOG", () => new LogTargetParser());
        yield return new TargetDefinition("DNAT", () => new DnatTargetParser(f), null, T(TableNames.Nat), T(Pre, Out));
        yield return new TargetDefinition("SNAT", () => new SnatTargetParser(f), null, T(TableNames.Nat), T(Post, In));
        yield return new TargetDefinition("MASQUERADE", () => new MasqueradeTargetParser(), null, T(TableNames.Nat), T(Post));
        yield return new TargetDefinition("REDIRECT", () => new RedirectTargetParser(), null, T(TableNames.Nat), T(Pre, Out));
        yield return new TargetDefinition("NETMAP", () => new NetmapTargetParser(f), null, T(TableNames.Nat), T(Pre, Out, Post, In));
        yield return new TargetDefinition("MARK", () => new MarkTargetParser());
        yield return new TargetDefinition("CONNMARK", () => new ConnmarkTargetParser());
        yield return new TargetDefinition("NFLOG", () => new NflogTargetParser());
        if (f == Family.IPv4)
            yield return new TargetDefinition("TTL", () => new TtlLikeTargetParser("ttl", (o, v) => new TtlTarget(o, v)), Family.IPv4, T(TableNames.Mangle));
        if (f == Family.IPv6)
            yield return new TargetDefinition("HL", () => new TtlLikeTargetParser("hl", (o, v) => new HlTarget(o, v)), Family.IPv6, T(TableNames.Mangle));
        yield return new TargetDefinition("TOS", () => new TosTargetParser(), null, T(TableNames.Mangle));
        yield return new TargetDefinition("DSCP", () => new DscpTargetParser(), null, T(TableNames.Mangle));
        yield return new TargetDefinition("TCPMSS", () => new TcpmssTargetParser());
        yield return new TargetDefinition("CHECKSUM", () => new ChecksumTargetParser(), null, T(TableNames.Mangle));
        yield return new TargetDefinition("CLASSIFY", () => new ClassifyTargetParser(), null, default, T(Post, Fwd, Out));
        yield return new TargetDefinition("SET", () => new SetTargetParser());
        yield return new TargetDefinition("CT", () => new CtTargetParser(), null, T(TableNames.Raw));
        yield return new TargetDefinition("NOTRACK", () => new NoTrackTargetParser(), null, T(TableNames.Raw));
        yield return new TargetDefinition("TRACE", () => new TraceTargetParser(), null, T(TableNames.Raw));
    }

    private static readonly ImmutableArray<MatchDefinition> Matches4 = [.. BuildMatches(Family.IPv4)];
    private static readonly ImmutableArray<MatchDefinition> Matches6 = [.. BuildMatches(Family.IPv6)];
    private static readonly ImmutableArray<TargetDefinition> Targets4 = [.. BuildTargets(Family.IPv4)];
    private static readonly ImmutableArray<TargetDefinition> Targets6 = [.. BuildTargets(Family.IPv6)];

    /// <summary>The match registered under <paramref name="name"/> (or an alias) for the family, or null.</summary>
    public static MatchDefinition? FindMatch(string name, Family family) =>
        (family == Family.IPv4 ? Matches4 : Matches6).FirstOrDefault(m => m.Name == name || m.Aliases.Contains(name));

    /// <summary>The target registered under <paramref name="name"/> for the family, or null.</summary>
    public static TargetDefinition? FindTarget(string name, Family family) =>
        (family == Family.IPv4 ? Targets4 : Targets6).FirstOrDefault(t => t.Name == name || t.Aliases.Contains(name));

    /// <summary>Every match registration (both families; a match existing in both is listed once per family).</summary>
    public static IEnumerable<MatchDefinition> Matches => Matches4.Concat(Matches6.Where(m => m.Family == Family.IPv6));

    public static IEnumerable<TargetDefinition> Targets => Targets4.Concat(Targets6.Where(t => t.Family == Family.IPv6));

    /// <summary>Every match iptables 1.8.9 ships (libxt_*, libipt_*, libip6t_*), to name the unsupported ones in errors.</summary>
    private static readonly ImmutableHashSet<string> IptablesMatches = ImmutableHashSet.Create(
        "addrtype", "ah", "bpf", "cgroup", "cluster", "comment", "connbytes", "connlabel", "connlimit", "connmark",
        "conntrack", "cpu", "dccp", "devgroup", "dscp", "dst", "ecn", "esp", "eui64", "frag", "hashlimit", "hbh", "helper",
        "hl", "icmp", "icmp6", "iprange", "ipcomp", "ipv6header", "ipvs", "length", "limit", "mac", "mark", "mh",
        "multiport", "nfacct", "osf", "owner", "physdev", "pkttype", "policy", "quota", "rateest", "realm", "recent",
        "rpfilter", "rt", "sctp", "set", "socket", "srh", "state", "statistic", "string", "tcp", "tcpmss", "time", "tos",
        "ttl", "u32", "udp", "udplite");

    /// <summary>Every target iptables 1.8.9 ships.</summary>
    private static readonly ImmutableHashSet<string> IptablesTargets = ImmutableHashSet.Create(
        "AUDIT", "CHECKSUM", "CLASSIFY", "CLUSTERIP", "CONNMARK", "CONNSECMARK", "CT", "DNAT", "DNPT", "DSCP", "ECN",
        "HL", "HMARK", "IDLETIMER", "LED", "LOG", "MARK", "MASQUERADE", "NETMAP", "NFLOG", "NFQUEUE", "NOTRACK",
        "RATEEST", "REDIRECT", "REJECT", "SECMARK", "SET", "SNAT", "SNPT", "SYNPROXY", "TCPMSS", "TCPOPTSTRIP", "TEE",
        "TOS", "TPROXY", "TRACE", "TTL", "ULOG", "MIRROR", "SAME");

    /// <summary>True for a match iptables has but Harness does not model (for this family).</summary>
    public static bool IsKnownUnsupportedMatch(string name) => IptablesMatches.Contains(name);

    /// <summary>True for a target iptables has but Harness does not model (for this family).</summary>
    public static bool IsKnownUnsupportedTarget(string name) => IptablesTargets.Contains(name);
}
