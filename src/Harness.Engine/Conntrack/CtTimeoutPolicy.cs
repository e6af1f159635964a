using Harness.Hosts;

namespace Harness.Engine.Conntrack;

/// <summary>
/// A conntrack timeout policy (nfnetlink_cttimeout) as a CT template carries it to the connections it creates: the
/// host's timeouts with the policy's given ones in their place. The protocol trackers take an entry's timeouts from
/// here instead of the table's settings (the kernel's nf_ct_timeout_lookup, which falls back to the per-namespace
/// values only for an entry without the timeout extension).
/// </summary>
public sealed record CtTimeoutPolicy(string Name, ConntrackSettings Settings)
{
    /// <summary>The policy <paramref name="policy"/> filled in from <paramref name="host"/>'s current timeouts.</summary>
    public static CtTimeoutPolicy From(ConntrackTimeoutPolicy policy, ConntrackSettings host)
    {
        var t = policy.Timeouts;
        long Get(string state, long current) => t.TryGetValue(state, out var v) ? v : current;
        var s = host;
        switch (policy.Protocol)
        {
            case 6:
            {
                var tcp = host.TcpTimeouts.ToBuilder();
                foreach (var (state, name) in TcpStates) tcp[(int)state] = Get(name, tcp[(int)state]);
                s = s with
                {
                    TcpTimeouts = tcp.MoveToImmutable(),
                    TcpTimeoutMaxRetrans = Get("retrans", host.TcpTimeoutMaxRetrans),
                    TcpTimeoutUnacknowledged = Get("unacknowledged", host.TcpTimeoutUnacknowledged),
                };
                break;
            }
            case 17 or 136:
                s = s with { UdpTimeout = Get("unreplied", host.UdpTimeout), UdpTimeoutStream = Get("replied", host.UdpTimeoutStream) };
                break;
            case 47:
                s = s with { GreTimeout = Get("unreplied", host.GreTimeout), GreTimeoutStream = Get("replied", host.GreTimeoutStream) };
                break;
            case 1:
                s = s with { IcmpTimeout = Get("timeout", host.IcmpTimeout) };
                break;
            case 58:
                s = s with { Icmpv6Timeout = Get("timeout", host.Icmpv6Timeout) };
                break;
            case 132:
            {
                var sctp = host.SctpTimeouts.ToBuilder();
                for (int i = 1; i < SctpStates.Length; i++) sctp[i] = Get(SctpStates[i], sctp[i]);
                sctp[0] = sctp[1]; // NONE shares CLOSED's timeout
                s = s with { SctpTimeouts = sctp.MoveToImmutable() };
                break;
            }
            default:
                s = s with { GenericTimeout = Get("timeout", host.GenericTimeout) };
                break;
        }
        return new CtTimeoutPolicy(policy.Name, s);
    }

    /// <summary>
    /// The tracker a rule's protocol number uses (its own number for the protocols with a tracker, 255 "generic" for
    /// the rest): a policy fits a rule when it is for that tracker (nf_ct_set_timeout compares them).
    /// </summary>
    public static byte TrackerOf(byte protocol) => protocol is 6 or 17 or 136 or 1 or 58 or 132 or 47 ? protocol : (byte)255;

    private static readonly (TcpConntrackState State, string Name)[] TcpStates =
    [
        (TcpConntrackState.SynSent, "syn_sent"), (TcpConntrackState.SynRecv, "syn_recv"),
        (TcpConntrackState.Established, "established"), (TcpConntrackState.FinWait, "fin_wait"),
        (TcpConntrackState.CloseWait, "close_wait"), (TcpConntrackState.LastAck, "last_ack"),
        (TcpConntrackState.TimeWait, "time_wait"), (TcpConntrackState.Close, "close"),
        (TcpConntrackState.SynSent2, "syn_sent2"),
    ];

    private static readonly string[] SctpStates =
        ["", "closed", "cookie_wait", "cookie_echoed", "established", "shutdown_sent", "shutdown_recd", "shutdown_ack_sent", "heartbeat_sent"];
}
