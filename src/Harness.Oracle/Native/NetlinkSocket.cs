using System.Buffers.Binary;

namespace Harness.Oracle.Native;

/// <summary>One netlink message of the netfilter family: its type (subsystem &lt;&lt; 8 | message), flags and attributes.</summary>
internal sealed record NetlinkMessage(ushort Type, ushort Flags, byte Family, NetlinkAttributes Attributes)
{
    /// <summary>For an NLMSG_ERROR message: the (negative) errno, 0 for an acknowledgement.</summary>
    public int ErrorCode { get; init; }

    public byte Subsystem => (byte)(Type >> 8);
    public byte Message => (byte)Type;
}

/// <summary>Top-level or nested netlink attributes by type (the nested and byte-order flags stripped).</summary>
internal sealed class NetlinkAttributes
{
    private readonly Dictionary<int, ReadOnlyMemory<byte>> _values = [];

    public static NetlinkAttributes Parse(ReadOnlyMemory<byte> data)
    {
        var attributes = new NetlinkAttributes();
        var span = data.Span;
        int offset = 0;
        while (offset + 4 <= span.Length)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            int type = BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 2)..]) & 0x3FFF;
            if (length < 4 || offset + length > span.Length) break;
            attributes._values[type] = data.Slice(offset + 4, length - 4);
            offset += (length + 3) & ~3;
        }
        return attributes;
    }

    public bool Has(int type) => _values.ContainsKey(type);

    public ReadOnlyMemory<byte>? Bytes(int type) => _values.TryGetValue(type, out var v) ? v : null;

    public NetlinkAttributes? Nested(int type) => _values.TryGetValue(type, out var v) ? Parse(v) : null;

    public string? String(int type) => _values.TryGetValue(type, out var v)
        ? System.Text.Encoding.UTF8.GetString(v.Span).TrimEnd('\0')
        : null;

    public uint? U32BigEndian(int type) => _values.TryGetValue(type, out var v) && v.Length >= 4
        ? BinaryPrimitives.ReadUInt32BigEndian(v.Span)
        : null;

    public ulong? U64BigEndian(int type) => _values.TryGetValue(type, out var v) && v.Length >= 8
        ? BinaryPrimitives.ReadUInt64BigEndian(v.Span)
        : null;

    public ushort? U16BigEndian(int type) => _values.TryGetValue(type, out var v) && v.Length >= 2
        ? BinaryPrimitives.ReadUInt16BigEndian(v.Span)
        : null;

    public byte? U8(int type) => _values.TryGetValue(type, out var v) && v.Length >= 1 ? v.Span[0] : null;
}

/// <summary>
/// A NETLINK_NETFILTER socket subscribed to multicast groups (nftables trace, conntrack events) inside one namespace.
/// Events are queued by the kernel while the packet is processed, so draining after a packet needs no waiting.
/// </summary>
internal sealed class NetlinkSocket : IDisposable
{
    private readonly int _fd;
    private readonly byte[] _buffer = new byte[1 << 17];

    private NetlinkSocket(int fd) => _fd = fd;

    public int Fd => _fd;

    public static NetlinkSocket Open(string namespaceName, params int[] groups) => NetNs.RunInside(namespaceName, () =>
    {
        int fd = LibC.socket(LibC.AfNetlink, LibC.SockRaw | LibC.SockCloexec | LibC.SockNonblock, LibC.NetlinkNetfilter);
        if (fd < 0) throw new OracleException($"cannot open a netfilter netlink socket: {LibC.ErrorText(LibC.Errno)}");
        var address = new byte[12];
        BitConverter.TryWriteBytes(address.AsSpan(0, 2), (ushort)LibC.AfNetlink);
        if (LibC.bind(fd, address, address.Length) != 0)
        {
            var error = LibC.ErrorText(LibC.Errno);
            LibC.close(fd);
            throw new OracleException($"cannot bind a netlink socket: {error}");
        }
        int size = 16 << 20;
        LibC.setsockopt(fd, LibC.SolSocket, LibC.SoRcvbufForce, ref size, sizeof(int));
        foreach (var group in groups)
        {
            int g = group;
            if (LibC.setsockopt(fd, LibC.SolNetlink, LibC.NetlinkAddMembership, ref g, sizeof(int)) != 0)
            {
                var error = LibC.ErrorText(LibC.Errno);
                LibC.close(fd);
                throw new OracleException($"cannot join netlink group {group}: {error}");
            }
        }
        return new NetlinkSocket(fd);
    });

    /// <summary>Waits up to <paramref name="timeoutMs"/> for something to read.</summary>
    public bool WaitReadable(int timeoutMs)
    {
        var fds = new[] { new LibC.PollFd { Fd = _fd, Events = LibC.PollIn } };
        return LibC.poll(fds, 1, timeoutMs) > 0;
    }

    /// <summary>Every message queued so far (never blocks). Throws when the kernel reports lost messages.</summary>
    public List<NetlinkMessage> Drain()
    {
        var messages = new List<NetlinkMessage>();
        var from = new byte[12];
        while (true)
        {
            int fromLength = from.Length;
            var n = LibC.recvfrom(_fd, _buffer, _buffer.Length, 0, from, ref fromLength);
            if (n < 0)
            {
                int errno = LibC.Errno;
                if (errno == LibC.Eintr) continue;
                if (errno == LibC.Eagain) return messages;
                if (errno == LibC.Enobufs) throw new OracleException("the kernel dropped netlink events (receive buffer overrun)");
                throw new OracleException($"reading a netlink socket failed: {LibC.ErrorText(errno)}");
            }
            ParseDatagram(_buffer.AsSpan(0, (int)n).ToArray(), messages);
        }
    }

    /// <summary>
    /// Sends one request with attributes and NLM_F_ACK, and returns the answer's messages, or null when the kernel
    /// answered with an error (e.g. ENOENT: no such conntrack entry).
    /// </summary>
    public List<NetlinkMessage>? Request(ushort type, byte family, byte[] attributes, int timeoutMs = 3000)
    {
        const ushort requestFlags = 0x1 | 0x4; // NLM_F_REQUEST | NLM_F_ACK
        int length = 20 + attributes.Length;
        var request = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)length);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(6), requestFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(8), unchecked((uint)++_sequence));
        request[16] = family;
        attributes.CopyTo(request.AsSpan(20));
        var kernel = new byte[12];
        BitConverter.TryWriteBytes(kernel.AsSpan(0, 2), (ushort)LibC.AfNetlink);
        if (LibC.sendto(_fd, request, request.Length, 0, kernel, kernel.Length) != request.Length)
            throw new OracleException($"sending a netlink request failed: {LibC.ErrorText(LibC.Errno)}");
        var messages = new List<NetlinkMessage>();
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            foreach (var m in Drain())
            {
                if (m.Type != NlmsgError) { messages.Add(m); continue; }
                return m.ErrorCode == 0 ? messages : null;
            }
            var left = deadline - Environment.TickCount64;
            if (left <= 0) throw new OracleException("the kernel did not answer a netlink request within 3 s");
            WaitReadable((int)Math.Min(left, 100));
        }
    }

    private const ushort NlmsgError = 2;
    private const ushort NlmsgDone = 3;
    private int _sequence;

    private static void ParseDatagram(ReadOnlyMemory<byte> data, List<NetlinkMessage> into)
    {
        int offset = 0;
        var span = data.Span;
        while (offset + 16 <= span.Length)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[offset..]);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 4)..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 6)..]);
            if (length < 16 || offset + length > span.Length) break;
            if (length >= 20)
            {
                byte family = span[offset + 16];
                var attributes = NetlinkAttributes.Parse(data.Slice(offset + 20, length - 20));
                int error = BinaryPrimitives.ReadInt32LittleEndian(span[(offset + 16)..]);
                into.Add(new NetlinkMessage(type, flags, family, attributes) { ErrorCode = type == NlmsgError ? error : 0 });
            }
            offset += (length + 3) & ~3;
        }
    }

    public void Dispose() => LibC.close(_fd);
}
