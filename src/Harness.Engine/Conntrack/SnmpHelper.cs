using Harness.Hosts;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The SNMP broadcast helper (nf_conntrack_snmp), IPv4/UDP only, for connections given "-j CT --helper snmp": the same
/// broadcast logic as netbios-ns (<see cref="NetbiosNsHelper.Broadcast"/>) with port 161 and a 30 s timeout: a locally
/// sent query to the broadcast address of a primary address of the outgoing device expects the answers from any
/// address of that subnet, from port 161, to the query's source address and port (permanent, 30 s, one per master),
/// and cuts the master's timeout to 30 s. When the master is NATed the kernel's nf_nat_snmp_basic rewrites the
/// addresses inside the SNMP (ASN.1) payload, which the model does not do: a packet of a NATed snmp connection is
/// refused (<see cref="NotSupportedException"/>). ("snmp_trap" is nf_nat_snmp_basic's NAT-only helper: not modelled.)
/// </summary>
internal static class SnmpHelper
{
    public const ushort SnmpPort = 161;
    private const long TimeoutSeconds = 30;

    public static void Inspect(ConntrackTable table, CtPacket ct, Packet packet, IReadOnlyList<InterfaceAddress>? outAddresses)
    {
        var e = ct.Entry!;
        NetbiosNsHelper.Broadcast(table, ct, packet, outAddresses, "snmp", SnmpPort, TimeoutSeconds);
        if ((e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) != 0)
            throw new NotSupportedException(
                $"conntrack helper snmp: connection {e.Original} is NATed; nf_nat_snmp_basic rewrites the addresses inside the SNMP payload, which is not modelled: remove the \"-j CT --helper snmp\" rule or the NAT for this connection");
    }
}
