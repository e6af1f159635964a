using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The SANE conntrack helper (nf_conntrack_sane), TCP, IPv4 and IPv6, for connections given "-j CT --helper sane".
/// It reads packets only once traffic went both ways (ESTABLISHED, either direction). A client packet whose payload is
/// exactly 8 bytes is a request: RPC code 7 (SANE_NET_START) arms the helper, any other code disarms it; a client
/// packet of another size changes nothing. The next server packet with data after an armed request disarms it and, when
/// it has at least 8 bytes, a status word of 0 (success) and a zero 16-bit word, expects a TCP connection from the
/// client's address (any port) to the server's address at the 16-bit port that follows: RELATED, 300 s, one per master
/// (a newer one replaces it). There is no NAT part: the expectation keeps the master's original addresses, and the data
/// connection is NATed by the nat rules like any new one. An expectation another master already has drops the packet.
/// </summary>
internal static class SaneHelper
{
    private const long ExpectTimeoutSeconds = 300;
    private const uint NetStart = 7;

    /// <summary>Why the packet is dropped when nf_ct_expect_related refuses the expectation (the kernel logs nothing).</summary>
    internal const string CannotExpect = "nf_ct_sane: dropping packet: cannot add expectation";

    public static void Inspect(ConntrackTable table, CtPacket ct, Packet packet)
    {
        var e = ct.Entry!;
        if (ct.State != CtState.Established || packet.Transport is not TcpHeader th) return;
        var segment = packet.TransportBytes();
        if (th.HeaderLength >= segment.Length) return;
        var data = segment[th.HeaderLength..];
        if (ct.Direction == CtDirection.Original)
        {
            if (data.Length != 8) return;
            e.SaneStartRequested = Read32(data, 0) == NetStart;
            return;
        }
        if (!e.SaneStartRequested) return; // a reply to an uninteresting request
        e.SaneStartRequested = false;
        if (data.Length < 8 || Read32(data, 0) != 0 || data[4] != 0 || data[5] != 0) return;
        ushort port = (ushort)(data[6] << 8 | data[7]);
        var o = e.Original;
        if (!table.AddExpectation(new Expectation(e, e.Zone, o.Family, IpProtocol.Tcp, o.Source, o.Destination, port,
            new Timestamp(ct.Time.Nanoseconds + ExpectTimeoutSeconds * 1_000_000_000L), "sane"), ct.Time))
            ct.DropReason = CannotExpect;
    }

    private static uint Read32(ReadOnlySpan<byte> b, int at) => (uint)(b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]);
}
