namespace Harness.Oracle.Native;

/// <summary>
/// An AF_PACKET raw socket bound to one interface of one namespace: sends whole Ethernet frames and receives the frames
/// that arrive on the interface (frames the socket's own side sent are skipped).
/// </summary>
internal sealed class PacketSocket : IDisposable
{
    private const byte PacketOutgoing = 4;
    private readonly int _fd;
    private readonly int _ifindex;
    private readonly byte[] _address;
    private readonly byte[] _buffer = new byte[65600];

    private PacketSocket(int fd, int ifindex)
    {
        _fd = fd;
        _ifindex = ifindex;
        _address = SockaddrLl(ifindex, LibC.EthPAll);
    }

    public int Fd => _fd;

    /// <summary>Opens the socket inside <paramref name="namespaceName"/>, bound to <paramref name="interfaceName"/>.</summary>
    public static PacketSocket Open(string namespaceName, string interfaceName) => NetNs.RunInside(namespaceName, () =>
    {
        uint index = LibC.if_nametoindex(interfaceName);
        if (index == 0) throw new OracleException($"no interface '{interfaceName}' in namespace '{namespaceName}'");
        int fd = LibC.socket(LibC.AfPacket, LibC.SockRaw | LibC.SockCloexec | LibC.SockNonblock, LibC.HostToNetwork(LibC.EthPAll));
        if (fd < 0) throw new OracleException($"cannot open a packet socket: {LibC.ErrorText(LibC.Errno)}");
        var address = SockaddrLl((int)index, LibC.EthPAll);
        if (LibC.bind(fd, address, address.Length) != 0)
        {
            var error = LibC.ErrorText(LibC.Errno);
            LibC.close(fd);
            throw new OracleException($"cannot bind a packet socket to '{interfaceName}': {error}");
        }
        int size = 4 << 20;
        LibC.setsockopt(fd, LibC.SolSocket, LibC.SoRcvbufForce, ref size, sizeof(int));
        return new PacketSocket(fd, (int)index);
    });

    public void Send(byte[] frame)
    {
        var sent = LibC.sendto(_fd, frame, frame.Length, 0, _address, _address.Length);
        if (sent != frame.Length)
            throw new OracleException($"sending a {frame.Length}-byte frame on ifindex {_ifindex} failed: {LibC.ErrorText(LibC.Errno)}");
    }

    /// <summary>Every frame that arrived since the last call (never blocks).</summary>
    public List<byte[]> DrainIncoming()
    {
        var frames = new List<byte[]>();
        var from = new byte[20];
        while (true)
        {
            int fromLength = from.Length;
            var n = LibC.recvfrom(_fd, _buffer, _buffer.Length, 0, from, ref fromLength);
            if (n < 0)
            {
                int errno = LibC.Errno;
                if (errno == LibC.Eintr) continue;
                if (errno == LibC.Eagain) return frames;
                throw new OracleException($"reading a packet socket failed: {LibC.ErrorText(errno)}");
            }
            if (from[10] == PacketOutgoing) continue;
            frames.Add(_buffer.AsSpan(0, (int)n).ToArray());
        }
    }

    private static byte[] SockaddrLl(int ifindex, ushort protocol)
    {
        var a = new byte[20];
        BitConverter.TryWriteBytes(a.AsSpan(0, 2), (ushort)LibC.AfPacket);
        BitConverter.TryWriteBytes(a.AsSpan(2, 2), LibC.HostToNetwork(protocol));
        BitConverter.TryWriteBytes(a.AsSpan(4, 4), ifindex);
        return a;
    }

    public void Dispose() => LibC.close(_fd);
}
