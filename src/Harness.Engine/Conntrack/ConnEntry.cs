using Harness.Net;

namespace Harness.Engine.Conntrack;

/// <summary>
/// One conntrack entry (the kernel's struct nf_conn). Mutable, and owned by its <see cref="ConntrackTable"/>: the
/// table changes it as packets go by; the engine may only set <see cref="Mark"/> (CONNMARK) and
/// <see cref="Labels"/> (CONNLABEL). Everything else is read-only from outside.
/// </summary>
public sealed class ConnEntry
{
    internal ConnEntry(long id, CtZone zone, ConnTuple original, Timestamp created)
    {
        Id = id;
        Zone = zone.Id;
        ZoneDirection = zone.Direction;
        Original = original;
        Reply = ConntrackTable.Invert(original);
        Created = created;
    }

    /// <summary>Creation order in this table, from 1: the stable order of <see cref="ConntrackTable.Entries"/>.</summary>
    public long Id { get; }

    /// <summary>The conntrack zone id (CT --zone in the raw table; 0 by default).</summary>
    public ushort Zone { get; }

    /// <summary>The directions <see cref="Zone"/> applies to (CT --zone-orig / --zone-reply: one; the other is in zone 0).</summary>
    public Harness.Rules.Extensions.CtZoneDirection ZoneDirection { get; }

    /// <summary>The zone and its directions.</summary>
    public CtZone ZoneSpec => new(Zone, ZoneDirection);

    /// <summary>The zone id of one direction's tuple (nf_ct_zone_id).</summary>
    public ushort ZoneIdOf(CtDirection direction) => ZoneSpec.IdOf(direction);

    /// <summary>The tuple of the first packet, as it arrived (before any NAT).</summary>
    public ConnTuple Original { get; }

    /// <summary>The tuple replies are expected to carry: the inverse of <see cref="Original"/> after NAT.</summary>
    public ConnTuple Reply
    {
        get => _reply;
        internal set
        {
            _reply = value;
            _replyView = null;
        }
    }

    private ConnTuple _reply;

    public CtStatus Status { get; internal set; }

    /// <summary>TCP state (None for other protocols).</summary>
    public TcpConntrackState TcpState { get; internal set; }

    /// <summary>SCTP state (None for other protocols).</summary>
    public SctpConntrackState SctpState { get; internal set; }

    /// <summary>The protocol state conntrack -L prints (TCP or SCTP), or null for protocols without one.</summary>
    public string? ProtocolState => Original.Protocol switch
    {
        IpProtocol.Tcp => CtNames.Of(TcpState),
        IpProtocol.Sctp => SctpTracker.NameOf(SctpState),
        _ => null,
    };

    /// <summary>When the entry expires on the capture's clock; a packet at or after this instant no longer finds it.</summary>
    public Timestamp Expires { get; internal set; }

    public Timestamp Created { get; }

    /// <summary>ctmark: set by CONNMARK/-j CT --… in the engine, copied to expected connections.</summary>
    public uint Mark { get; set; }

    /// <summary>connlabel bits (128 in the kernel; the low 64 and high 64 here).</summary>
    public UInt128 Labels { get; set; }

    /// <summary>The helper attached by "-j CT --helper NAME" (only "ftp" is modelled), or null.</summary>
    public string? Helper { get; internal set; }

    /// <summary>The timeout policy the entry's CT template gave it (CT --timeout), or null: the table's timeouts apply.</summary>
    public CtTimeoutPolicy? TimeoutPolicy { get; internal set; }

    /// <summary>For a connection created from an expectation: the connection whose helper expected it.</summary>
    public ConnEntry? Master { get; internal set; }

    /// <summary>Packets and bytes seen in the original direction (what conntrack -L shows with accounting on).</summary>
    public long OriginalPackets { get; internal set; }

    public long OriginalBytes { get; internal set; }

    public long ReplyPackets { get; internal set; }

    public long ReplyBytes { get; internal set; }

    public bool IsConfirmed => (Status & CtStatus.Confirmed) != 0;

    public bool IsAssured => (Status & CtStatus.Assured) != 0;

    public bool SeenReply => (Status & CtStatus.SeenReply) != 0;

    /// <summary>The virtual state SNAT of --ctstate: the reply's destination differs from the original source.</summary>
    public bool IsSnat => Reply.Destination != Original.Source || (Original.HasPorts && Reply.DestinationPort != Original.SourcePort);

    /// <summary>The virtual state DNAT of --ctstate: the reply's source differs from the original destination.</summary>
    public bool IsDnat => Reply.Source != Original.Destination || (Original.HasPorts && Reply.SourcePort != Original.DestinationPort);

    /// <summary>The tuple of one direction.</summary>
    public ConnTuple TupleOf(CtDirection direction) => direction == CtDirection.Original ? Original : Reply;

    /// <summary>Seconds left before expiry at <paramref name="now"/>, rounded down as conntrack -L prints them (0 when expired).</summary>
    public long SecondsLeft(Timestamp now) => Math.Max(0, (Expires.Nanoseconds - now.Nanoseconds) / 1_000_000_000L);

    /// <summary>True for TCP connections that are closing or closed (what connlimit skips): TIME_WAIT or CLOSE.</summary>
    public bool IsTcpClosed => Original.Protocol == IpProtocol.Tcp
        && TcpState is TcpConntrackState.TimeWait or TcpConntrackState.Close;

    // ---- internal tracking state ----

    internal TcpWindowState TcpOriginal;
    internal TcpWindowState TcpReplyDir;
    internal TcpTrackFlags TcpTrack;
    internal byte TcpRetrans;
    internal TcpLastPacket TcpLast;

    /// <summary>UDP: until when a reply does not yet make the flow a stream (creation + 2 s).</summary>
    internal Timestamp UdpStreamAfter;

    /// <summary>SCTP verification tags and INIT bookkeeping.</summary>
    internal SctpState? Sctp;

    /// <summary>FTP helper state (null until the helper looks at the connection).</summary>
    internal FtpState? Ftp;

    /// <summary>The sane helper's state (nf_ct_sane_master.state): the client's last request was SANE_NET_START.</summary>
    internal bool SaneStartRequested;

    /// <summary>Sequence adjustment after a NAT helper resized a payload (null until one did).</summary>
    internal SeqAdjust? SeqAdj;

    /// <summary>The expiry (ns) this entry is queued under in its table's expiry queue.</summary>
    internal long ExpiryKey;

    // ---- the outcome model's tuples, made once and shared by the outcomes of every packet of the connection ----

    private CtTuple? _originalView;
    private CtTuple? _replyView;

    internal CtTuple OriginalView => _originalView ??= Original.ToCtTuple();

    internal CtTuple ReplyView => _replyView ??= Reply.ToCtTuple();

    /// <summary>The text of NAT's rewrite per direction and manip type, made by the first packet that needed it (see Nat.Apply).</summary>
    internal string?[]? NatTexts;

    /// <summary>
    /// The NAT texts of one packet joined ("dst …; src …"): the same texts (the cached ones of <see cref="NatTexts"/>)
    /// give the same string as for the packet before.
    /// </summary>
    internal string NatJoined(List<string> parts)
    {
        if (_natJoinParts is { } last && last.Length == parts.Count)
        {
            bool same = true;
            for (int i = 0; i < last.Length && same; i++) same = ReferenceEquals(last[i], parts[i]);
            if (same) return _natJoinText!;
        }
        _natJoinParts = [.. parts];
        return _natJoinText = string.Join("; ", parts);
    }

    private string[]? _natJoinParts;
    private string? _natJoinText;

    /// <summary>The outcome view the last packet of this connection got (see <see cref="CtPacket.ToView"/>).</summary>
    internal ConntrackView? LastView;

    public override string ToString() => $"#{Id} {Original} / {Reply}";
}
