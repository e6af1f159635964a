using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>What REJECT answers with (IPv4 ipt_reject_with / IPv6 ip6t_reject_with).</summary>
public enum RejectWith
{
    IcmpNetUnreachable,
    IcmpHostUnreachable,
    IcmpPortUnreachable,
    IcmpProtoUnreachable,
    IcmpNetProhibited,
    IcmpHostProhibited,
    IcmpAdminProhibited,
    TcpReset,
    Icmp6NoRoute,
    Icmp6AdmProhibited,
    Icmp6AddrUnreachable,
    Icmp6PortUnreachable,
    Icmp6PolicyFail,
    Icmp6RejectRoute,
}

/// <summary>-j REJECT [--reject-with TYPE] (INPUT, FORWARD, OUTPUT only).</summary>
public sealed record RejectTarget(RejectWith With) : TargetExtension
{
    public override string Name => "REJECT";
    public override bool IsTerminal => true;

    internal static readonly (string Name, string Alias, RejectWith With)[] V4 =
    [
        ("icmp-net-unreachable", "net-unreach", RejectWith.IcmpNetUnreachable),
        ("icmp-host-unreachable", "host-unreach", RejectWith.IcmpHostUnreachable),
        ("icmp-proto-unreachable", "proto-unreach", RejectWith.IcmpProtoUnreachable),
        ("icmp-port-unreachable", "port-unreach", RejectWith.IcmpPortUnreachable),
        ("icmp-net-prohibited", "net-prohib", RejectWith.IcmpNetProhibited),
        ("icmp-host-prohibited", "host-prohib", RejectWith.IcmpHostProhibited),
        ("tcp-reset", "tcp-rst", RejectWith.TcpReset),
        ("icmp-admin-prohibited", "admin-prohib", RejectWith.IcmpAdminProhibited),
    ];

    internal static readonly (string Name, string Alias, RejectWith With)[] V6 =
    [
        ("icmp6-no-route", "no-route", RejectWith.Icmp6NoRoute),
        ("icmp6-adm-prohibited", "adm-prohibited", RejectWith.Icmp6AdmProhibited),
        ("icmp6-addr-unreachable", "addr-unreach", RejectWith.Icmp6AddrUnreachable),
        ("icmp6-port-unreachable", "port-unreach", RejectWith.Icmp6PortUnreachable),
        ("icmp6-policy-fail", "policy-fail", RejectWith.Icmp6PolicyFail),
        ("icmp6-reject-route", "reject-route", RejectWith.Icmp6RejectRoute),
        ("tcp-reset", "tcp-rst", RejectWith.TcpReset),
    ];

    protected override void SaveOptions(SaveWriter w) =>
        w.Word("--reject-with").Word(V4.Concat(V6).First(n => n.With == With).Name);
}

public sealed class RejectTargetParser : TargetParser
{
    private readonly Family _family;
    private RejectWith? _with;

    protected override string ExtensionName => "REJECT";

    public RejectTargetParser(Family family)
    {
        _family = family;
        On("reject-with", (_, a) =>
        {
            var text = a.Next("type");
            var table = family == Family.IPv4 ? RejectTarget.V4 : RejectTarget.V6;
            var hit = table.FirstOrDefault(n => n.Name == text || n.Alias == text);
            if (hit.Name is null) throw a.Error($"unknown reject type \"{text}\"");
            _with = hit.With;
        });
    }

    public override TargetExtension Finish(RuleContext context)
    {
        var with = _with ?? (_family == Family.IPv4 ? RejectWith.IcmpPortUnreachable : RejectWith.Icmp6PortUnreachable);
        if (with == RejectWith.TcpReset && !ProtocolCheck.Is(context, IpProtocol.Tcp))
            throw Error("REJECT: TCP_RESET invalid for non-tcp");
        return new RejectTarget(with);
    }
}
