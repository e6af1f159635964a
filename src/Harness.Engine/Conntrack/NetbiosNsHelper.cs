using Harness.Hosts;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The NetBIOS name service helper (nf_conntrack_netbios_ns over nf_conntrack_broadcast_help), IPv4/UDP only, for
/// connections given "-j CT --helper netbios-ns". It acts only on a locally generated packet in the original direction
/// whose destination is the broadcast address of a primary address of the device the packet leaves by (the address's
/// own broadcast as configured: "ip addr add … brd +"; an address without one never matches). It then expects answers
/// from any address of that subnet, from port 137, to the packet's source address and port: a permanent expectation
/// (every answering host gets a RELATED connection) that lives 3 s, one per master (a newer query replaces it), and it
/// cuts the master's own timeout to 3 s. On any other packet it does nothing, and the master keeps the UDP timeouts.
/// </summary>
internal static class NetbiosNsHelper
{
    public const ushort NameServicePort = 137;
    private const long TimeoutSeconds = 3;

    public static void Inspect(ConntrackTable table, CtPacket ct, Packet packet, IReadOnlyList<InterfaceAddress>? outAddresses) =>
        Broadcast(table, ct, packet, outAddresses, "netbios-ns", NameServicePort, TimeoutSeconds);

    /// <summary>
    /// nf_conntrack_broadcast_help, shared with snmp (<see cref="SnmpHelper"/>): the expectation of <paramref name="helper"/>
    /// from the subnet's <paramref name="port"/>, and the master's timeout, both <paramref name="timeoutSeconds"/>.
    /// </summary>
    internal static void Broadcast(ConntrackTable table, CtPacket ct, Packet packet, IReadOnlyList<InterfaceAddress>? outAddresses,
        string helper, ushort port, long timeoutSeconds)
    {
        var e = ct.Entry!;
        if (outAddresses is null || ct.Direction != CtDirection.Original || packet.Ip is not { Family: Family.IPv4 } ip) return;
        int? prefix = null;
        for (int i = 0; i < outAddresses.Count && prefix is null; i++)
        {
            var a = outAddresses[i];
            if (a.Address.Family != Family.IPv4 || IsSecondary(outAddresses, i)) continue;
            if (a.Broadcast is { } b && b == ip.Destination) prefix = a.PrefixLength;
        }
        if (prefix is not { } len || len == 0) return; // mask 0: the kernel does nothing either
        var reply = e.Reply;
        var expires = new Timestamp(ct.Time.Nanoseconds + timeoutSeconds * 1_000_000_000L);
        // nf_conntrack_broadcast_help ignores nf_ct_expect_related's answer: a clash only means no expectation
        table.AddExpectation(new Expectation(e, e.Zone, Family.IPv4, IpProtocol.Udp, reply.Source, reply.Destination,
            reply.DestinationPort, expires, helper, SourcePrefixLength: len, SourcePort: port, Permanent: true), ct.Time);
        table.SetExpiry(e, expires); // nf_ct_refresh to the helper's timeout (before confirmation: from now)
    }

    /// <summary>The kernel marks an address secondary when an earlier address of the device is in the same subnet.</summary>
    private static bool IsSecondary(IReadOnlyList<InterfaceAddress> addresses, int index)
    {
        var a = addresses[index];
        for (int i = 0; i < index; i++)
        {
            var p = addresses[i];
            if (p.Address.Family == Family.IPv4 && p.PrefixLength == a.PrefixLength && p.Network.Contains(a.Address)) return true;
        }
        return false;
    }
}
