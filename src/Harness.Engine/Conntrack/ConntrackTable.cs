using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Conntrack;

/// <summary>
/// The connection tracking table of one replay (the kernel's nf_conntrack hash, expectations and NAT bindings).
/// Deterministic: time comes only from packet timestamps, and every choice (NAT ports, early drop) is a pure function
/// of the packets seen so far.
/// <para>How the engine drives it, per packet (IPv4 and IPv6 alike):</para>
/// <list type="number">
/// <item>PREROUTING (arriving) or OUTPUT (made here): run the raw table, folding NOTRACK / CT targets into a
/// <see cref="CtTemplate"/>; then <c>var ct = table.Process(packet, hook, template)</c>. If
/// <see cref="CtPacket.DropReason"/> is set, conntrack dropped the packet (table full): stop there.</item>
/// <item>mangle; then at nat (dst): if <see cref="NeedsNat"/>(ct, Destination), walk the nat chain; on DNAT/REDIRECT
/// call <see cref="SetupNat"/> (REDIRECT's range from <see cref="NatTargets.Redirect"/>; NETMAP's from
/// <see cref="NatTargets.Netmap"/>), when the walk ends without a NAT target call <see cref="SetupNullBinding"/>.
/// Then always <c>packet = table.ApplyNat(ct, packet, NatManipType.Destination)</c> (rewrites later packets and
/// replies from the binding too).</item>
/// <item>filter etc.; at nat (src) of POSTROUTING or INPUT the same with <see cref="NatManipType.Source"/>
/// (SNAT, MASQUERADE via <see cref="NatTargets.Masquerade"/>, NETMAP).</item>
/// <item>When the packet is accepted at the very end of INPUT or POSTROUTING: <c>table.Confirm(ct, packet)</c>;
/// a false result means the kernel would drop it ("insert clash", rare). A packet dropped anywhere before
/// is simply never confirmed: its new entry vanishes, as in the kernel.</item>
/// </list>
/// A packet that loops back through lo keeps the <see cref="CtPacket"/> it got at OUTPUT (the kernel does not look
/// it up again). A packet the engine generates in answer (REJECT's RST/ICMP) gets <see cref="ForGeneratedReply"/>.
/// Forwarded packets are looked up once, at PREROUTING.
/// </summary>
public sealed class ConntrackTable
{
    private readonly Dictionary<TupleKey, (ConnEntry Entry, CtDirection Direction)> byTuple = new(TupleKeyComparer.Instance);
    /// <summary>Confirmed entries by <see cref="ConnEntry.Id"/>; unordered (a hash is cheap to scan), sorted where order shows.</summary>
    private readonly Dictionary<long, ConnEntry> byId = [];

    /// <summary>
    /// Confirmed entries with a source NAT binding, by the source of their original tuple (address, port or ICMP id,
    /// protocol, zone), oldest first: the kernel's nf_nat_bysource hash, which SNAT asks for an earlier mapping.
    /// </summary>
    private readonly Dictionary<SourceKey, List<ConnEntry>> bySource = [];

    /// <summary>
    /// Confirmed entries by the expiry they had when queued, soonest first (see <see cref="ReapExpired"/>): made the
    /// first time the table is full, kept from then on; a capture that never fills the table never pays for it.
    /// </summary>
    private PriorityQueue<ConnEntry, long>? byExpiry;

    /// <summary>Confirmed entries in confirmation order, for early drop (see <see cref="MakeRoom"/>); stale slots are skipped.</summary>
    private Queue<ConnEntry>? byConfirmation;
    private readonly List<Expectation> expectations = [];
    private long nextId = 1;

    /// <param name="settings">Sysctls (timeouts, loose, be_liberal, max): <see cref="ConntrackSettings.FromSysctls"/>.</param>
    /// <param name="natSeed">Seed of the deterministic port search (the kernel uses a random offset there).</param>
    public ConntrackTable(ConntrackSettings settings, uint natSeed = 0)
    {
        Settings = settings;
        NatSeed = natSeed;
    }

    public ConntrackSettings Settings { get; }

    public uint NatSeed { get; }

    /// <summary>Confirmed entries, oldest first (including ones expired but not yet reaped; see <see cref="LiveEntries"/>).</summary>
    public IEnumerable<ConnEntry> Entries => byId.Values.OrderBy(e => e.Id);

    /// <summary>Confirmed entries still alive at <paramref name="now"/>, oldest first.</summary>
    public IEnumerable<ConnEntry> LiveEntries(Timestamp now) => Entries.Where(e => e.Expires > now);

    /// <summary>Number of confirmed entries alive at <paramref name="now"/>.</summary>
    public int CountAt(Timestamp now) => byId.Values.Count(e => e.Expires > now);

    /// <summary>
    /// Things the model saw but does not reproduce exactly (e.g. a NAT helper finding no free port), in order,
    /// each once. The engine should surface them in its report.
    /// </summary>
    public IReadOnlyList<string> Warnings => warnings;

    private readonly List<string> warnings = [];

    internal void AddWarning(string text)
    {
        if (!warnings.Contains(text)) warnings.Add(text);
    }

    /// <summary>Pending helper expectations (FTP data connections), oldest first.</summary>
    public IEnumerable<Expectation> Expectations => expectations;

    /// <summary>
    /// The conntrack step (priority -200) of PREROUTING or OUTPUT: find or create the entry, run the protocol tracker,
    /// classify. <paramref name="template"/> is what the raw table decided (NOTRACK, zone, helper).
    /// </summary>
    public CtPacket Process(Packet packet, Hook hook, CtTemplate? template = null) => Process(packet, hook, template, null);

    /// <summary>
    /// <see cref="Process(Packet, Hook, CtTemplate?)"/> filling <paramref name="reuse"/> for a packet of a known connection
    /// instead of making a new object: for a caller that keeps no packet's CtPacket past the packet.
    /// </summary>
    internal CtPacket Process(Packet packet, Hook hook, CtTemplate? template, CtPacket? reuse)
    {
        template ??= CtTemplate.Default;
        var now = packet.Time;
        ReapNowAndThen(now);
        if (template.NoTrack) return CtPacket.Untracked(hook, now);
        var tracker = new PacketTracker(this, packet, hook, template, now, reuse);
        var ct = tracker.Run();
        if (byExpiry is not null && ct.Entry is { IsConfirmed: true } e && e.Expires.Nanoseconds < e.ExpiryKey) QueueForExpiry(e); // a shorter timeout now
        return ct;
    }

    /// <summary>
    /// The conntrack of a packet the engine generated in answer to <paramref name="cause"/> (REJECT's TCP RST or ICMP
    /// error): the kernel attaches the cause's entry as RELATED in the opposite direction (nf_ct_attach), so NAT
    /// translates it back. Untracked/INVALID causes give an untracked reply here; the engine instead tracks such a
    /// reply afresh in OUTPUT, as the kernel does (see <c>AttachToGeneratedReply</c>).
    /// </summary>
    public CtPacket ForGeneratedReply(CtPacket cause, Hook hook, Timestamp now)
    {
        if (cause.Entry is null) return CtPacket.Untracked(hook, now);
        var dir = cause.Direction == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;
        return new CtPacket(CtState.Related, dir, cause.Entry)
        {
            Hook = hook,
            Time = now,
            IsGeneratedReply = true,
            TcpStateBefore = cause.Entry.TcpState,
            TcpStateAfter = cause.Entry.TcpState,
            ProtocolStateBefore = cause.Entry.ProtocolState,
            ProtocolStateAfter = cause.Entry.ProtocolState,
            EntryStateBefore = cause.EntryStateAfter,
        };
    }

    /// <summary>
    /// The conntrack the kernel gives a packet the host generated in answer to <paramref name="cause"/> (REJECT's RST
    /// or ICMP error, an ICMP error of the forwarding path). When the cause has an entry, nf_ct_attach gives the reply
    /// that entry as RELATED in the opposite direction (<see cref="ForGeneratedReply"/>; an ICMP reply is marked as an
    /// ICMP error, so NAT translates it and never walks a nat chain for it). Null when the cause has no entry (INVALID
    /// or UNTRACKED): the reply then goes through conntrack in OUTPUT like any local packet.
    /// </summary>
    internal CtPacket? AttachToGeneratedReply(CtPacket cause, Packet reply, Hook hook)
    {
        if (cause.Entry is null) return null;
        var ct = ForGeneratedReply(cause, hook, reply.Time);
        ct.IsIcmpError = reply.Transport is IcmpHeader;
        return ct;
    }

    /// <summary>
    /// True when the nat chain of this manip type must run for this packet (nf_nat_inet_fn): that half of the binding
    /// is not set up yet and the packet is NEW, or RELATED in either direction but not ICMP (nf_nat_ipv4_fn and
    /// nf_nat_ipv6_fn only translate RELATED ICMP packets). RELATED in the reply direction is a reply the host
    /// generated (a REJECT's TCP RST attached to the connection of the packet it answers).
    /// </summary>
    public bool NeedsNat(CtPacket ct, NatManipType manip) =>
        ct.Entry is { } e
        && (ct.Direction == CtDirection.Original || ct.IsGeneratedReply)
        && ct.State is CtState.New or CtState.Related
        && !ct.IsIcmpError
        && !Nat.IsSetUp(e, manip);

    /// <summary>
    /// Binds the connection to <paramref name="range"/> for one manip type (nf_nat_setup_info): picks the new address
    /// and port the kernel's way (keep the tuple when free; least-hash address; then the port search) and changes
    /// the reply tuple. <paramref name="range"/> must carry addresses (use <see cref="NatTargets"/> for REDIRECT,
    /// MASQUERADE and NETMAP). Call only when <see cref="NeedsNat"/> was true.
    /// </summary>
    public void SetupNat(CtPacket ct, NatManipType manip, NatRange range)
    {
        var entry = ct.Entry ?? throw new InvalidOperationException("NAT setup on a packet without a conntrack entry");
        // nf_nat_setup_info does nothing for a confirmed entry: a packet attached to one that is still unbound (the
        // host's RST for a connection an ICMP error confirmed) walks the nat chain every time, and binds nothing.
        if (entry.IsConfirmed) return;
        Nat.Setup(this, entry, manip, range);
    }

    /// <summary>The binding of a connection no nat rule matched: keeps addresses, but may still move the port on a clash.</summary>
    public void SetupNullBinding(CtPacket ct, NatManipType manip)
    {
        var entry = ct.Entry ?? throw new InvalidOperationException("NAT setup on a packet without a conntrack entry");
        if (entry.IsConfirmed) return;
        Nat.SetupNull(this, entry, manip);
    }

    /// <summary>
    /// Rewrites the packet from the connection's binding for one manip type (nf_nat_packet / the ICMP error
    /// translation): addresses, ports, ICMP ids, the quoted header of ICMP errors, and every checksum (incrementally,
    /// so a wrong checksum stays wrong). Returns the packet unchanged when nothing applies. Records what it did in
    /// <see cref="CtPacket.NatApplied"/>.
    /// </summary>
    public Packet ApplyNat(CtPacket ct, Packet packet, NatManipType manip) => Nat.Apply(ct, packet, manip, null);

    /// <summary><see cref="ApplyNat(CtPacket, Packet, NatManipType)"/> patching <paramref name="ownBytes"/> (the array behind the packet's bytes, the caller's own copy) in place when given.</summary>
    internal Packet ApplyNat(CtPacket ct, Packet packet, NatManipType manip, byte[]? ownBytes) => Nat.Apply(ct, packet, manip, ownBytes);

    /// <summary>
    /// The confirm step at the end of INPUT/POSTROUTING for an accepted packet: runs the connection's helper (FTP
    /// expectations) and puts a new entry into the table. Returns false when the kernel would drop the packet
    /// instead (its tuple was taken meanwhile); <see cref="CtPacket.DropReason"/> then says why.
    /// <paramref name="outAddresses"/>: for a locally generated packet, the addresses of the device its route leaves by
    /// (the netbios-ns helper compares the destination with their broadcast addresses); null otherwise.
    /// <paramref name="loopback"/>: the packet was received on a loopback device (at INPUT), where the kernel does no
    /// sequence adjustment (nf_confirm's nf_is_loopback_packet, true only with skb_iif set): a packet looped through lo
    /// was adjusted once, on its way out at POSTROUTING.
    /// A helper that cannot add its expectation drops the packet (returns false, the helper's reason in
    /// <see cref="CtPacket.DropReason"/>), as nf_confirm returns the helper's NF_DROP before confirming.
    /// </summary>
    public bool Confirm(CtPacket ct, Packet packet, IReadOnlyList<Harness.Hosts.InterfaceAddress>? outAddresses = null, bool loopback = false) =>
        Confirm(ct, ref packet, outAddresses, loopback);

    /// <summary>
    /// <see cref="Confirm(CtPacket, Packet, IReadOnlyList{Harness.Hosts.InterfaceAddress}?)"/>, giving back the packet as
    /// it leaves (nf_confirm): the NAT helpers (nf_nat_ftp, nf_nat_irc) may rewrite its payload, and a connection whose
    /// payload they resized has the sequence numbers of every later packet adjusted (nf_ct_seq_adjust).
    /// </summary>
    public bool Confirm(CtPacket ct, ref Packet packet, IReadOnlyList<Harness.Hosts.InterfaceAddress>? outAddresses = null, bool loopback = false)
    {
        if (ct.Entry is not { } e) return true;
        if (e.Helper is not null && !ct.IsGeneratedReply)
            switch (e.Helper)
            {
                case "ftp": packet = FtpHelper.Inspect(this, ct, packet); break;
                case "tftp": TftpHelper.Inspect(this, ct, packet); break;
                case "irc": packet = IrcHelper.Inspect(this, ct, packet); break;
                case "netbios-ns": NetbiosNsHelper.Inspect(this, ct, packet, outAddresses); break;
                case "sane": SaneHelper.Inspect(this, ct, packet); break;
                case "amanda": packet = AmandaHelper.Inspect(this, ct, packet); break;
                case "snmp": SnmpHelper.Inspect(this, ct, packet, outAddresses); break;
            }
        if (ct.DropReason is not null) return false; // the helper's NF_DROP: not adjusted, not confirmed
        if (e.SeqAdj is { } adj && !ct.IsGeneratedReply && !loopback) packet = adj.Adjust(packet, ct.Direction);
        // __nf_conntrack_confirm looks only at the direction: a generated packet attached in the original direction
        // (an ICMP error about the host's own RST, which was attached in the reply direction) confirms the entry.
        if (e.IsConfirmed || ct.Direction != CtDirection.Original) return true;
        if (ct.Killed) return true;
        // Each tuple is checked in the bucket of its own direction's zone id, against entries whose zone id in their
        // direction matches this entry's in that direction (nf_ct_key_equal); expired entries met there are removed.
        var zone = e.ZoneSpec;
        if (TryMatch(e.Original, zone.IdOf(CtDirection.Original), zone, null, ct.Time, true, out _)
            || TryMatch(e.Reply, zone.IdOf(CtDirection.Reply), zone, null, ct.Time, true, out _))
        {
            ct.DropReason = "conntrack: insert clash";
            return false;
        }
        Insert(e);
        return true;
    }

    /// <summary>
    /// nf_ct_set_closing, which REJECT --reject-with tcp-reset calls once it has built its RST: a confirmed TCP entry
    /// moves to CLOSE and, unless it was there already, expires after the CLOSE timeout from now. An unconfirmed entry
    /// (the rejected packet opened it) is left alone.
    /// </summary>
    public void SetClosing(CtPacket ct, Timestamp now)
    {
        if (ct.Entry is not { IsConfirmed: true } e || e.Original.Protocol != IpProtocol.Tcp) return;
        var old = e.TcpState;
        e.TcpState = TcpConntrackState.Close;
        ct.TcpStateAfter = TcpConntrackState.Close;
        ct.ProtocolStateAfter = e.ProtocolState;
        if (old == TcpConntrackState.Close) return;
        e.Expires = new Timestamp(now.Nanoseconds + ConntrackSettings.Seconds((e.TimeoutPolicy?.Settings ?? Settings).TcpTimeouts[(int)TcpConntrackState.Close]).Nanoseconds);
        if (byExpiry is not null && e.Expires.Nanoseconds < e.ExpiryKey) QueueForExpiry(e); // leaves the table at its new, earlier expiry
    }

    /// <summary>The tuple of the reverse direction (ports swapped; ICMP echo request/reply types swapped).</summary>
    public static ConnTuple Invert(ConnTuple t)
    {
        if (t.IsIcmp)
        {
            var type = IcmpTracker.InverseType(t.IcmpType, t.Protocol == IpProtocol.Icmpv6);
            return new ConnTuple(t.Family, t.Protocol, t.Destination, t.Source, t.SourcePort, (ushort)((type << 8) | t.IcmpCode));
        }
        return new ConnTuple(t.Family, t.Protocol, t.Destination, t.Source, t.DestinationPort, t.SourcePort);
    }

    /// <summary>The entry holding <paramref name="tuple"/> in either direction, alive at <paramref name="now"/>, or null.</summary>
    public ConnEntry? Find(ConnTuple tuple, ushort zone, Timestamp now) => Find(tuple, new CtZone(zone), now);

    /// <summary>The entry a packet of <paramref name="tuple"/> in <paramref name="zone"/> would find, alive at <paramref name="now"/>, or null.</summary>
    public ConnEntry? Find(ConnTuple tuple, CtZone zone, Timestamp now)
    {
        ushort o = zone.IdOf(CtDirection.Original), r = zone.IdOf(CtDirection.Reply);
        return TryMatch(tuple, o, zone, null, now, false, out var hit) || (r != o && TryMatch(tuple, r, zone, null, now, false, out hit))
            ? hit.Entry : null;
    }

    // ---- internals used by the trackers, NAT and helpers ----

    /// <summary>
    /// resolve_normal_ct's lookup: first in the bucket of the zone's original-direction id, then (when it differs) of
    /// its reply-direction id. An expired entry met on the way is removed and not found.
    /// </summary>
    internal bool TryLookup(ConnTuple tuple, CtZone zone, Timestamp now, out ConnEntry entry, out CtDirection direction)
    {
        ushort o = zone.IdOf(CtDirection.Original), r = zone.IdOf(CtDirection.Reply);
        if (TryMatch(tuple, o, zone, null, now, true, out var hit) || (r != o && TryMatch(tuple, r, zone, null, now, true, out hit)))
        {
            (entry, direction) = hit;
            return true;
        }
        entry = null!;
        direction = default;
        return false;
    }

    /// <summary>
    /// nf_conntrack_tuple_taken as NAT asks it (a candidate reply tuple of <paramref name="ignored"/>): looked for in
    /// the bucket of the reply direction's zone id; expired entries do not count.
    /// </summary>
    internal bool IsTakenLive(ConnTuple tuple, CtZone zone, ConnEntry? ignored, Timestamp now) =>
        TryMatch(tuple, zone.IdOf(CtDirection.Reply), zone, ignored, now, false, out _);

    /// <summary>
    /// The hash entries of one bucket (tuple and zone id <paramref name="bucket"/>) that a packet in
    /// <paramref name="zone"/> matches: an entry's tuple of direction D matches when its zone id for D equals
    /// <paramref name="zone"/>'s id for D (nf_ct_key_equal). Entries with a zone for both directions sit under one
    /// key per tuple; per-direction zones under keys of their own (looked at only while such entries exist). Of several
    /// matches the newest wins (the kernel's chains put new entries first). Expired entries never match; with
    /// <paramref name="removeExpired"/> they are removed.
    /// </summary>
    private bool TryMatch(ConnTuple tuple, ushort bucket, CtZone zone, ConnEntry? ignored, Timestamp now, bool removeExpired,
        out (ConnEntry Entry, CtDirection Direction) hit)
    {
        hit = default;
        bool found = false;
        var key = new TupleKey(tuple, bucket);
        if (byTuple.TryGetValue(key, out var h) && zone.IdOf(h.Direction) == bucket)
            found = Consider(h, ignored, now, removeExpired, ref hit);
        if (directional == 0) return found;
        if (zone.IdOf(CtDirection.Original) == bucket && byDirectionalTuple[0].TryGetValue(key, out h))
            found |= Consider(h, ignored, now, removeExpired, ref hit);
        if (zone.IdOf(CtDirection.Reply) == bucket && byDirectionalTuple[1].TryGetValue(key, out h))
            found |= Consider(h, ignored, now, removeExpired, ref hit);
        return found;
    }

    private bool Consider((ConnEntry Entry, CtDirection Direction) h, ConnEntry? ignored, Timestamp now, bool removeExpired,
        ref (ConnEntry Entry, CtDirection Direction) best)
    {
        if (h.Entry == ignored) return false;
        if (h.Entry.Expires <= now)
        {
            if (removeExpired) Remove(h.Entry);
            return false;
        }
        if (best.Entry is null || h.Entry.Id > best.Entry.Id) best = h;
        return true;
    }

    /// <summary>The dictionary one direction of an entry is held in, and its key there.</summary>
    private (Dictionary<TupleKey, (ConnEntry Entry, CtDirection Direction)> Map, TupleKey Key) KeyOf(ConnEntry e, CtDirection d)
    {
        var zone = e.ZoneSpec;
        return (zone.IsDirectional ? byDirectionalTuple[(int)d] : byTuple, new TupleKey(e.TupleOf(d), zone.IdOf(d)));
    }

    /// <summary>
    /// The hash entries of entries with a per-direction zone, by direction (original, reply): apart from
    /// <see cref="byTuple"/>, since an entry's original tuple and another's reply tuple may share tuple and zone id
    /// there. Looked at only while <see cref="directional"/> is not 0.
    /// </summary>
    private readonly Dictionary<TupleKey, (ConnEntry Entry, CtDirection Direction)>[] byDirectionalTuple =
        [new(TupleKeyComparer.Instance), new(TupleKeyComparer.Instance)];

    /// <summary>Entries with a per-direction zone in the table.</summary>
    private int directional;

    /// <summary>Confirmed entries whose original tuple has this source and protocol, newest first.</summary>
    /// <param name="zone">The original direction's zone id (find_appropriate_src compares that).</param>
    internal IEnumerable<ConnEntry> EntriesFromSource(ConnTuple original, ushort zone)
    {
        if (!bySource.TryGetValue(SourceKey.Of(original, zone), out var list)) yield break;
        for (int i = list.Count - 1; i >= 0; i--) yield return list[i];
    }

    internal ConnEntry NewEntry(CtZone zone, ConnTuple original, Timestamp now) => new(nextId++, zone, original, now);

    internal void Insert(ConnEntry e)
    {
        e.Status |= CtStatus.Confirmed;
        var (map, key) = KeyOf(e, CtDirection.Original);
        map[key] = (e, CtDirection.Original);
        (map, key) = KeyOf(e, CtDirection.Reply);
        map[key] = (e, CtDirection.Reply);
        if (!byId.TryAdd(e.Id, e)) return;
        if (e.ZoneSpec.IsDirectional) directional++;
        // Only entries with a source NAT binding (null ones included) can be an earlier mapping; NAT never binds a
        // confirmed entry, so the bit is final here.
        if ((e.Status & CtStatus.SrcNatDone) != 0) AddBySource(e);
        if (byExpiry is null) return;
        QueueForExpiry(e);
        byConfirmation!.Enqueue(e);
    }

    private void AddBySource(ConnEntry e)
    {
        var key = SourceKey.Of(e.Original, e.ZoneIdOf(CtDirection.Original));
        if (!bySource.TryGetValue(key, out var list)) bySource[key] = list = [];
        // Oldest first by creation (Id), also should an entry be confirmed after one created later.
        int at = list.Count;
        while (at > 0 && list[at - 1].Id > e.Id) at--;
        list.Insert(at, e);
    }

    private void RemoveBySource(ConnEntry e)
    {
        var key = SourceKey.Of(e.Original, e.ZoneIdOf(CtDirection.Original));
        if (!bySource.TryGetValue(key, out var list)) return;
        list.Remove(e);
        if (list.Count == 0) bySource.Remove(key);
    }

    /// <summary>Deletes an entry (expiry, RST, reopen, early drop) and the expectations it made.</summary>
    internal void Remove(ConnEntry e)
    {
        if (!byId.Remove(e.Id)) return;
        RemoveBySource(e);
        if (e.ZoneSpec.IsDirectional) directional--;
        RemoveKey(KeyOf(e, CtDirection.Original), e);
        RemoveKey(KeyOf(e, CtDirection.Reply), e);
        if (expectations.Count > 0) RemoveExpectationsOf(e); // (no closure for the usual empty list)
    }

    private void RemoveExpectationsOf(ConnEntry master) => expectations.RemoveAll(x => x.Master == master);

    /// <summary>
    /// Once per second of capture time, forgets the entries that have expired (the kernel's gc_worker): an expired entry
    /// is never found again anyway, so no outcome changes; a long capture's table keeps to its live connections.
    /// </summary>
    private void ReapNowAndThen(Timestamp now)
    {
        if (lastReap == long.MinValue)
        {
            lastReap = now.Nanoseconds;
            return;
        }
        long since = now.Nanoseconds - lastReap;
        if (since >= 0 && since < ReapInterval) return;
        lastReap = now.Nanoseconds;
        ReapExpired(now);
    }

    private const long ReapInterval = 1_000_000_000;
    private long lastReap = long.MinValue;

    /// <summary>
    /// Forgets every entry expired at <paramref name="now"/>. Before the table was ever full: one pass over the table.
    /// After: through <see cref="byExpiry"/>, ordered by the expiry each entry had when queued; an entry whose timeout
    /// moved on since is queued again with its new expiry when it comes up, so this is exact and cheap when nothing is due.
    /// </summary>
    internal void ReapExpired(Timestamp now)
    {
        if (byExpiry is null)
        {
            List<ConnEntry>? expired = null;
            foreach (var e in byId.Values)
                if (e.Expires <= now) (expired ??= []).Add(e);
            if (expired is not null)
                foreach (var e in expired) Remove(e);
        }
        else
        {
            while (byExpiry.TryPeek(out var e, out long queuedAt) && queuedAt <= now.Nanoseconds)
            {
                byExpiry.Dequeue();
                if (queuedAt != e.ExpiryKey || !IsInTable(e)) continue; // a stale slot
                if (e.Expires <= now) Remove(e);
                else QueueForExpiry(e);
            }
        }
        if (expectations.Count > 0) RemoveExpiredExpectations(now);
    }

    private void RemoveExpiredExpectations(Timestamp now) => expectations.RemoveAll(x => x.Expires <= now);

    private void QueueForExpiry(ConnEntry e)
    {
        e.ExpiryKey = e.Expires.Nanoseconds;
        byExpiry!.Enqueue(e, e.ExpiryKey);
    }

    /// <summary>The first time the table is full: the expiry and confirmation queues, from the entries in creation order.</summary>
    private void StartQueues()
    {
        if (byExpiry is not null) return;
        byExpiry = new PriorityQueue<ConnEntry, long>();
        byConfirmation = new Queue<ConnEntry>();
        foreach (var e in Entries)
        {
            QueueForExpiry(e);
            byConfirmation.Enqueue(e);
        }
    }

    private bool IsInTable(ConnEntry e) => byId.TryGetValue(e.Id, out var held) && ReferenceEquals(held, e);

    /// <summary>
    /// Room for one more entry (nf_conntrack_max). The kernel counts the new entry, reaps expired ones, then drops
    /// not-ASSURED entries from the hash buckets it scans; the hash is seeded randomly at boot, so the model picks
    /// deterministically instead: the oldest confirmed entry that is not ASSURED. False when none can go.
    /// </summary>
    internal bool MakeRoom(Timestamp now)
    {
        if (Settings.Max <= 0 || byId.Count + 1 <= Settings.Max) return true;
        StartQueues();
        ReapExpired(now);
        if (byId.Count + 1 <= Settings.Max) return true;
        // The oldest entry not ASSURED: entries in confirmation (= creation) order, skipping for good those that have
        // gone or become ASSURED since (neither comes back).
        while (byConfirmation!.TryPeek(out var victim))
        {
            if (!IsInTable(victim) || victim.IsAssured)
            {
                byConfirmation.Dequeue();
                continue;
            }
            Remove(victim);
            return true;
        }
        return false;
    }

    private static void RemoveKey((Dictionary<TupleKey, (ConnEntry Entry, CtDirection Direction)> Map, TupleKey Key) at, ConnEntry e)
    {
        if (at.Map.TryGetValue(at.Key, out var held) && held.Entry == e) at.Map.Remove(at.Key);
    }

    /// <summary>nf_ct_refresh from a helper: the entry now expires at <paramref name="expires"/> (earlier or later).</summary>
    internal void SetExpiry(ConnEntry e, Timestamp expires)
    {
        e.Expires = expires;
        if (byExpiry is not null && e.IsConfirmed && e.Expires.Nanoseconds < e.ExpiryKey) QueueForExpiry(e);
    }

    /// <summary>
    /// nf_ct_expect_related for a helper's expectation at <paramref name="now"/>: false (-EBUSY, nothing added) when it
    /// clashes with another pending expectation, that is when their tuples are equal in what both masks cover (another
    /// master's; or this master's with a different mask). The same tuple and mask from the same master replaces the old
    /// one; beyond the helper's max_expected per master (1 for ftp, tftp, netbios-ns; 8 for irc) the oldest goes.
    /// </summary>
    internal bool AddExpectation(Expectation x, Timestamp now, int maxExpected = 1)
    {
        if (expectations.Count > 0) RemoveExpiredExpectations(now);
        if (expectations.Exists(old => !SameExpectation(old, x) && ExpectationsClash(old, x))) return false;
        expectations.RemoveAll(old => SameExpectation(old, x));
        while (expectations.Count(old => old.Master == x.Master) >= maxExpected)
            expectations.Remove(expectations.First(old => old.Master == x.Master));
        expectations.Add(x);
        return true;
    }

    /// <summary>The same master, tuple and mask (expect_matches with master_matches).</summary>
    private static bool SameExpectation(Expectation a, Expectation b) =>
        a.Master == b.Master && a.Zone == b.Zone && a.Family == b.Family && a.Protocol == b.Protocol && a.Source == b.Source
        && a.Destination == b.Destination && a.DestinationPort == b.DestinationPort && a.SourcePort == b.SourcePort
        && a.SourcePrefixLength == b.SourcePrefixLength;

    /// <summary>expect_clash: the tuples are equal under the intersection of the two source masks (the destination is always exact).</summary>
    private static bool ExpectationsClash(Expectation a, Expectation b)
    {
        if (a.Zone != b.Zone || a.Family != b.Family || a.Protocol != b.Protocol || a.Destination != b.Destination
            || a.DestinationPort != b.DestinationPort) return false;
        if (a.SourcePort is { } pa && b.SourcePort is { } pb && pa != pb) return false;
        int full = a.Family == Family.IPv4 ? 32 : 128;
        int len = Math.Min(a.SourcePrefixLength ?? full, b.SourcePrefixLength ?? full);
        return len == 0 || (a.Source.Family == b.Source.Family && new Cidr(a.Source, len).Contains(b.Source));
    }

    internal Expectation? TakeExpectation(ConnTuple tuple, ushort zone, Timestamp now) =>
        expectations.Count == 0 ? null : TakePendingExpectation(tuple, zone, now); // (no closure for the usual empty list)

    private Expectation? TakePendingExpectation(ConnTuple tuple, ushort zone, Timestamp now)
    {
        expectations.RemoveAll(x => x.Expires <= now);
        var hit = expectations.FirstOrDefault(x => x.Zone == zone && x.Matches(tuple));
        if (hit is { Permanent: false }) expectations.Remove(hit); // a permanent one stays until it expires
        return hit;
    }

    /// <summary>
    /// The hash key of one direction of a connection: the tuple's fields packed into 40 bytes (a <see cref="ConnTuple"/>
    /// takes 64), since the table holds two keys per connection.
    /// </summary>
    private readonly struct TupleKey
    {
        public TupleKey(ConnTuple tuple, ushort zone)
        {
            var source = tuple.Source.Value;
            var destination = tuple.Destination.Value;
            SourceHigh = (ulong)(source >> 64);
            SourceLow = (ulong)source;
            DestinationHigh = (ulong)(destination >> 64);
            DestinationLow = (ulong)destination;
            SourcePort = tuple.SourcePort;
            DestinationPort = tuple.DestinationPort;
            Protocol = tuple.Protocol;
            // Family values are 4 and 6: their low three bits tell them apart.
            Families = (byte)(((int)tuple.Family & 7) | (((int)tuple.Source.Family & 3) << 3) | (((int)tuple.Destination.Family & 3) << 5));
            Zone = zone;
        }

        public readonly ulong SourceHigh, SourceLow, DestinationHigh, DestinationLow;
        public readonly ushort SourcePort;
        public readonly ushort DestinationPort;
        public readonly byte Protocol;
        public readonly byte Families;
        public readonly ushort Zone;
    }

    private readonly record struct SourceKey(Net.Address Source, ushort Port, byte Protocol, ushort Zone)
    {
        public static SourceKey Of(ConnTuple t, ushort zone) => new(t.Source, t.SourcePort, t.Protocol, zone);
    }

    /// <summary>A fast hash over the tuple's fields (the hot path of every packet).</summary>
    private sealed class TupleKeyComparer : IEqualityComparer<TupleKey>
    {
        public static readonly TupleKeyComparer Instance = new();

        public bool Equals(TupleKey a, TupleKey b) =>
            a.SourceLow == b.SourceLow && a.DestinationLow == b.DestinationLow && a.SourceHigh == b.SourceHigh
            && a.DestinationHigh == b.DestinationHigh && a.SourcePort == b.SourcePort
            && a.DestinationPort == b.DestinationPort && a.Protocol == b.Protocol && a.Zone == b.Zone && a.Families == b.Families;

        public int GetHashCode(TupleKey k)
        {
            ulong s = k.SourceLow ^ k.SourceHigh;
            ulong d = k.DestinationLow ^ k.DestinationHigh;
            ulong h = s * 0x9E3779B97F4A7C15UL;
            h ^= d + 0x632BE59BD9B4E019UL + (h << 6) + (h >> 2);
            h ^= ((ulong)k.SourcePort << 32 | (ulong)k.DestinationPort << 16 | (ulong)k.Protocol << 8 | (uint)(k.Families & 7)) * 0xC2B2AE3D27D4EB4FUL;
            h ^= k.Zone;
            return (int)(h ^ (h >> 32));
        }
    }
}
