using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>The "-m tcp needs -p tcp" family of checks (the kernel's checkentry on ip.proto).</summary>
public static class ProtocolCheck
{
    /// <summary>Fails unless the rule's -p is one of <paramref name="allowed"/> (negation is accepted, as iptables-nft does).</summary>
    public static void Require(RuleContext context, string message, params byte[] allowed)
    {
        if (context.Protocol is { } p && allowed.Contains(p.Value)) return;
        throw new RuleSyntaxException(message);
    }

    /// <summary>True when the rule's -p (not negated) is one of the given protocols.</summary>
    public static bool Is(RuleContext context, params byte[] protocols) =>
        context.Protocol is { Negated: false } p && protocols.Contains(p.Value);

    /// <summary>getservbyname's protocol name for the rule's -p, or null.</summary>
    public static string? ServiceProtocol(RuleContext context) =>
        context.Protocol is { } p ? ProtocolNames.ServiceProtocol(p.Value) : null;

    public static readonly byte[] PortProtocols = [IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Sctp, 33, IpProtocol.UdpLite];
}
