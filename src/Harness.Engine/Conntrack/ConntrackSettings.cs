using System.Collections.Immutable;
using Harness.Hosts;
using Harness.Net;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The conntrack sysctls (net.netfilter.nf_conntrack_*) that change behaviour, with the kernel's defaults.
/// Timeouts are in seconds on the capture's clock.
/// </summary>
public sealed record ConntrackSettings
{
    /// <summary>nf_conntrack_max: the most entries the table holds (0 = no limit).</summary>
    public long Max { get; init; } = 262144;

    /// <summary>nf_conntrack_tcp_loose: pick up connections already established (mid-stream) when on.</summary>
    public bool TcpLoose { get; init; } = true;

    /// <summary>nf_conntrack_tcp_be_liberal: only out-of-window RSTs are INVALID when on.</summary>
    public bool TcpBeLiberal { get; init; }

    /// <summary>nf_conntrack_tcp_ignore_invalid_rst: an out-of-window RST is not called INVALID when on.</summary>
    public bool TcpIgnoreInvalidRst { get; init; }

    /// <summary>nf_conntrack_tcp_max_retrans: retransmissions before the shorter retrans timeout applies.</summary>
    public int TcpMaxRetrans { get; init; } = 3;

    /// <summary>nf_conntrack_checksum: verify transport checksums of arriving packets (PREROUTING only).</summary>
    public bool Checksum { get; init; } = true;

    /// <summary>The TCP timeout per state (index by <see cref="TcpConntrackState"/>).</summary>
    public ImmutableArray<long> TcpTimeouts { get; init; } = DefaultTcpTimeouts;

    /// <summary>nf_conntrack_tcp_timeout_max_retrans.</summary>
    public long TcpTimeoutMaxRetrans { get; init; } = 300;

    /// <summary>nf_conntrack_tcp_timeout_unacknowledged.</summary>
    public long TcpTimeoutUnacknowledged { get; init; } = 300;

    /// <summary>nf_conntrack_udp_timeout (no reply yet, or replied within the first two seconds).</summary>
    public long UdpTimeout { get; init; } = 30;

    /// <summary>nf_conntrack_udp_timeout_stream (replied, and still active after two seconds: assured).</summary>
    public long UdpTimeoutStream { get; init; } = 120;

    /// <summary>nf_conntrack_icmp_timeout.</summary>
    public long IcmpTimeout { get; init; } = 30;

    /// <summary>nf_conntrack_icmpv6_timeout.</summary>
    public long Icmpv6Timeout { get; init; } = 30;

    /// <summary>nf_conntrack_gre_timeout (unreplied).</summary>
    public long GreTimeout { get; init; } = 30;

    /// <summary>nf_conntrack_gre_timeout_stream (replied).</summary>
    public long GreTimeoutStream { get; init; } = 180;

    /// <summary>SCTP timeouts by <see cref="SctpConntrackState"/> (NONE uses the CLOSED timeout, as the kernel does).</summary>
    public ImmutableArray<long> SctpTimeouts { get; init; } = DefaultSctpTimeouts;

    /// <summary>Kernel defaults: NONE, CLOSED 10, COOKIE_WAIT 3, COOKIE_ECHOED 3, ESTABLISHED 210, SHUTDOWN_* 3, HEARTBEAT_SENT 30.</summary>
    public static readonly ImmutableArray<long> DefaultSctpTimeouts = [10, 10, 3, 3, 210, 3, 3, 3, 30];

    private static readonly string[] SctpTimeoutSysctls =
        ["", "closed", "cookie_wait", "cookie_echoed", "established", "shutdown_sent", "shutdown_recd", "shutdown_ack_sent", "heartbeat_sent"];

    /// <summary>nf_conntrack_generic_timeout: protocols without a tracker of their own.</summary>
    public long GenericTimeout { get; init; } = 600;

    /// <summary>Kernel defaults for TCP, by state: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2.</summary>
    public static readonly ImmutableArray<long> DefaultTcpTimeouts =
        [0, 120, 60, 432000, 120, 60, 30, 120, 10, 120];

    public static readonly ConntrackSettings Default = new();

    private static readonly (TcpConntrackState State, string Sysctl)[] TcpTimeoutSysctls =
    [
        (TcpConntrackState.SynSent, "syn_sent"), (TcpConntrackState.SynRecv, "syn_recv"),
        (TcpConntrackState.Established, "established"), (TcpConntrackState.FinWait, "fin_wait"),
        (TcpConntrackState.CloseWait, "close_wait"), (TcpConntrackState.LastAck, "last_ack"),
        (TcpConntrackState.TimeWait, "time_wait"), (TcpConntrackState.Close, "close"),
    ];

    /// <summary>Reads every net.netfilter.nf_conntrack_* sysctl the model uses; absent ones keep the kernel default.</summary>
    public static ConntrackSettings FromSysctls(Sysctls sysctls)
    {
        const string p = "net.netfilter.nf_conntrack_";
        var d = Default;
        var tcp = d.TcpTimeouts.ToBuilder();
        foreach (var (state, name) in TcpTimeoutSysctls)
            tcp[(int)state] = sysctls.GetLong(p + "tcp_timeout_" + name, tcp[(int)state]);
        // SYN_SENT2 shares the syn_sent timeout in the kernel's sysctl table.
        tcp[(int)TcpConntrackState.SynSent2] = tcp[(int)TcpConntrackState.SynSent];
        var sctp = d.SctpTimeouts.ToBuilder();
        for (int i = 1; i < SctpTimeoutSysctls.Length; i++)
            sctp[i] = sysctls.GetLong(p + "sctp_timeout_" + SctpTimeoutSysctls[i], sctp[i]);
        sctp[0] = sctp[1];
        return new ConntrackSettings
        {
            Max = sysctls.GetLong(p + "max", sysctls.ConntrackMax),
            TcpLoose = sysctls.GetLong(p + "tcp_loose", 1) != 0,
            TcpBeLiberal = sysctls.GetLong(p + "tcp_be_liberal", 0) != 0,
            TcpIgnoreInvalidRst = sysctls.GetLong(p + "tcp_ignore_invalid_rst", 0) != 0,
            TcpMaxRetrans = (int)sysctls.GetLong(p + "tcp_max_retrans", d.TcpMaxRetrans),
            Checksum = sysctls.GetLong(p + "checksum", 1) != 0,
            TcpTimeouts = tcp.MoveToImmutable(),
            SctpTimeouts = sctp.MoveToImmutable(),
            TcpTimeoutMaxRetrans = sysctls.GetLong(p + "tcp_timeout_max_retrans", d.TcpTimeoutMaxRetrans),
            TcpTimeoutUnacknowledged = sysctls.GetLong(p + "tcp_timeout_unacknowledged", d.TcpTimeoutUnacknowledged),
            UdpTimeout = sysctls.GetLong(p + "udp_timeout", d.UdpTimeout),
            UdpTimeoutStream = sysctls.GetLong(p + "udp_timeout_stream", d.UdpTimeoutStream),
            IcmpTimeout = sysctls.GetLong(p + "icmp_timeout", d.IcmpTimeout),
            Icmpv6Timeout = sysctls.GetLong(p + "icmpv6_timeout", d.Icmpv6Timeout),
            GreTimeout = sysctls.GetLong(p + "gre_timeout", d.GreTimeout),
            GreTimeoutStream = sysctls.GetLong(p + "gre_timeout_stream", d.GreTimeoutStream),
            GenericTimeout = sysctls.GetLong(p + "generic_timeout", d.GenericTimeout),
        };
    }

    internal static TimeSpanNs Seconds(long s) => new(s * 1_000_000_000L);
}
