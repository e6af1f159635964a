using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The TFTP conntrack helper (nf_conntrack_tftp), for UDP connections given "-j CT --helper tftp": a packet of the
/// connection, in either direction, whose 2-byte opcode is a read request (1) or write request (2) makes the helper
/// expect the server's answer: from the reply tuple's source address to its destination address and port, from any
/// source port (the server answers from a new port). That connection is RELATED. Every other opcode (DATA, ACK,
/// ERROR, unknown) and a payload shorter than the opcode are ignored. The expectation lives 300 s; a master keeps at
/// most one (a newer request replaces it). When the master is NATed, nf_nat_tftp makes the answer follow the master's
/// NAT (<see cref="NatHelper.FollowMaster"/>): the expected tuple is the reply tuple, so it already has the NATed
/// addresses and port, and the answer is translated back to the client's own address and port.
/// </summary>
internal static class TftpHelper
{
    private const long ExpectTimeoutSeconds = 300;
    private const ushort ReadRequest = 1, WriteRequest = 2;

    /// <summary>What nf_ct_helper_log says when tftp_help or nf_nat_tftp cannot add the expectation and drops the packet.</summary>
    internal const string CannotExpect = "nf_ct_tftp: dropping packet: cannot add expectation";

    public static void Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (packet.Transport is not UdpHeader) return;
        var udp = packet.TransportBytes(); // the 8-byte UDP header, then the opcode
        if (udp.Length < 10) return;
        ushort opcode = (ushort)(udp[8] << 8 | udp[9]);
        if (opcode is not (ReadRequest or WriteRequest)) return;
        var reply = e.Reply;
        // nf_nat_tftp, for a NATed master: the answer gets the master's NAT, back to the client's own address and port
        var follow = (e.Status & (CtStatus.SrcNat | CtStatus.DstNat)) != 0 ? new NatFollow(CtDirection.Reply, e.Original.SourcePort) : null;
        // tftp_help / nf_nat_tftp: an expectation that cannot be added (another master's has the same tuple) drops the packet
        if (!table.AddExpectation(new Expectation(e, e.Zone, reply.Family, IpProtocol.Udp, reply.Source, reply.Destination,
            reply.DestinationPort, new Timestamp(ct.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L), "tftp", Follow: follow), ct.Time))
            ct.DropReason = CannotExpect;
    }
}
