namespace Harness.Oracle.Native;

/// <summary>
/// A raw IP socket (IPPROTO_RAW: the caller writes the whole IP header) inside the firewall namespace: what it sends
/// is a packet the firewall itself made, so it goes through routing, OUTPUT and POSTROUTING like any local packet.
/// </summary>
internal sealed class RawIpSocket : IDisposable
{
    private const int AfInet = 2;
    private const int AfInet6 = 10;
    private const int IpprotoRaw = 255;
    private readonly int _fd;
    private readonly bool _v6;

    private RawIpSocket(int fd, bool v6)
    {
        _fd = fd;
        _v6 = v6;
    }

    public static RawIpSocket Open(string namespaceName, bool v6) => NetNs.RunInside(namespaceName, () =>
    {
        int fd = LibC.socket(v6 ? AfInet6 : AfInet, LibC.SockRaw | LibC.SockCloexec, IpprotoRaw);
        if (fd < 0) throw new OracleException($"cannot open a raw IP socket: {LibC.ErrorText(LibC.Errno)}");
        return new RawIpSocket(fd, v6);
    });

    /// <summary>Sends one IP packet (header included) to the destination its header names.</summary>
    public void Send(byte[] packet)
    {
        byte[] address;
        if (_v6)
        {
            address = new byte[28];
            BitConverter.TryWriteBytes(address.AsSpan(0, 2), (ushort)AfInet6);
            packet.AsSpan(24, 16).CopyTo(address.AsSpan(8));
        }
        else
        {
            address = new byte[16];
            BitConverter.TryWriteBytes(address.AsSpan(0, 2), (ushort)AfInet);
            packet.AsSpan(16, 4).CopyTo(address.AsSpan(4));
        }
        // The kernel may refuse a packet its own stack would not send (EPERM when OUTPUT dropped it, …): that
        // outcome is in the trace, so the return value is not an error here.
        LibC.sendto(_fd, packet, packet.Length, 0, address, address.Length);
    }

    public void Dispose() => LibC.close(_fd);
}
