namespace Harness.Engine.Conntrack;

/// <summary>The state a packet has for <c>-m conntrack --ctstate</c> and <c>-m state --state</c>.</summary>
public enum CtState
{
    /// <summary>The packet starts a new connection (original direction, no reply seen yet).</summary>
    New,

    /// <summary>The packet belongs to a connection that has seen traffic in both directions (or is a reply).</summary>
    Established,

    /// <summary>The packet starts a connection expected by a helper, or is an ICMP error about a tracked connection.</summary>
    Related,

    /// <summary>Conntrack could not classify the packet (bad flags, out of window, unknown ICMP error, …).</summary>
    Invalid,

    /// <summary>The raw table marked the packet NOTRACK / CT --notrack.</summary>
    Untracked,
}

/// <summary>The entry's status bits that <c>--ctstatus</c> matches (and the NAT bits the kernel keeps beside them).</summary>
[Flags]
public enum CtStatus
{
    None = 0,

    /// <summary>The connection was created from a helper's expectation.</summary>
    Expected = 1 << 0,

    /// <summary>A packet was seen in the reply direction.</summary>
    SeenReply = 1 << 1,

    /// <summary>The connection is assured: it will not be early-dropped.</summary>
    Assured = 1 << 2,

    /// <summary>The entry is in the table (its first packet was accepted).</summary>
    Confirmed = 1 << 3,

    /// <summary>A source NAT binding changes the reply tuple (not set for a null binding).</summary>
    SrcNat = 1 << 4,

    /// <summary>A destination NAT binding changes the reply tuple (not set for a null binding).</summary>
    DstNat = 1 << 5,

    /// <summary>The source-manip binding has been set up (SNAT, MASQUERADE or a null binding).</summary>
    SrcNatDone = 1 << 7,

    /// <summary>The destination-manip binding has been set up (DNAT, REDIRECT or a null binding).</summary>
    DstNatDone = 1 << 8,
}

/// <summary>Which direction of its connection a packet travels (<c>--ctdir</c>).</summary>
public enum CtDirection
{
    Original,
    Reply,
}

/// <summary>The kernel's TCP conntrack states (enum tcp_conntrack), in the kernel's order.</summary>
public enum TcpConntrackState : byte
{
    None = 0,
    SynSent = 1,
    SynRecv = 2,
    Established = 3,
    FinWait = 4,
    CloseWait = 5,
    LastAck = 6,
    TimeWait = 7,
    Close = 8,
    SynSent2 = 9,
}

/// <summary>Which half of a tuple a NAT binding rewrites.</summary>
public enum NatManipType
{
    /// <summary>SNAT, MASQUERADE, source NETMAP: chosen at POSTROUTING or INPUT.</summary>
    Source,

    /// <summary>DNAT, REDIRECT, destination NETMAP: chosen at PREROUTING or OUTPUT.</summary>
    Destination,
}

/// <summary>Names as the kernel and the conntrack tool print them.</summary>
public static class CtNames
{
    /// <summary>"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED".</summary>
    public static string Of(CtState state) => state switch
    {
        CtState.New => "NEW",
        CtState.Established => "ESTABLISHED",
        CtState.Related => "RELATED",
        CtState.Invalid => "INVALID",
        _ => "UNTRACKED",
    };

    /// <summary>"SYN_SENT", "ESTABLISHED", …, as /proc/net/nf_conntrack prints TCP states.</summary>
    public static string Of(TcpConntrackState state) => state switch
    {
        TcpConntrackState.None => "NONE",
        TcpConntrackState.SynSent => "SYN_SENT",
        TcpConntrackState.SynRecv => "SYN_RECV",
        TcpConntrackState.Established => "ESTABLISHED",
        TcpConntrackState.FinWait => "FIN_WAIT",
        TcpConntrackState.CloseWait => "CLOSE_WAIT",
        TcpConntrackState.LastAck => "LAST_ACK",
        TcpConntrackState.TimeWait => "TIME_WAIT",
        TcpConntrackState.Close => "CLOSE",
        _ => "SYN_SENT2",
    };

    /// <summary>Parses a TCP state name as <see cref="Of(TcpConntrackState)"/> prints it.</summary>
    public static bool TryParseTcpState(string name, out TcpConntrackState state)
    {
        foreach (var s in Enum.GetValues<TcpConntrackState>())
            if (Of(s) == name) { state = s; return true; }
        state = default;
        return false;
    }
}
