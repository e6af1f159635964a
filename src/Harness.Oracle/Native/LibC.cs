using System.Runtime.InteropServices;

namespace Harness.Oracle.Native;

/// <summary>The few libc calls the oracle needs: namespaces (setns) and raw packet / netlink sockets.</summary>
internal static class LibC
{
    public const int AfPacket = 17;
    public const int AfNetlink = 16;
    public const int SockRaw = 3;
    public const int SockCloexec = 0x80000;
    public const int SockNonblock = 0x800;
    public const int NetlinkNetfilter = 12;
    public const int SolSocket = 1;
    public const int SoRcvbuf = 8;
    public const int SoRcvbufForce = 33;
    public const int SolNetlink = 270;
    public const int NetlinkAddMembership = 1;
    public const int CloneNewNet = 0x40000000;
    public const int ORdonly = 0;
    public const int OCloexec = 0x80000;
    public const short PollIn = 1;
    public const int Eagain = 11;
    public const int Eintr = 4;
    public const int Enobufs = 105;
    public const ushort EthPAll = 0x0003;

    [DllImport("libc", SetLastError = true)]
    public static extern int socket(int domain, int type, int protocol);

    [DllImport("libc", SetLastError = true)]
    public static extern int bind(int fd, byte[] addr, int addrlen);

    [DllImport("libc", SetLastError = true)]
    public static extern int setsockopt(int fd, int level, int optname, ref int optval, int optlen);

    [DllImport("libc", SetLastError = true)]
    public static extern nint sendto(int fd, byte[] buf, nint len, int flags, byte[] addr, int addrlen);

    [DllImport("libc", SetLastError = true)]
    public static extern nint recvfrom(int fd, byte[] buf, nint len, int flags, byte[] addr, ref int addrlen);

    [DllImport("libc", SetLastError = true)]
    public static extern int close(int fd);

    [DllImport("libc", SetLastError = true)]
    public static extern int setns(int fd, int nstype);

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi)]
    public static extern int open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    public static extern int poll([In, Out] PollFd[] fds, nuint nfds, int timeout);

    [DllImport("libc", SetLastError = true)]
    public static extern uint if_nametoindex([MarshalAs(UnmanagedType.LPStr)] string name);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static ushort HostToNetwork(ushort v) => (ushort)((v >> 8) | (v << 8));
}
