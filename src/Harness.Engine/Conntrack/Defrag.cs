using Harness.Hosts;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Conntrack;

/// <summary>What the defrag step did with a fragment.</summary>
internal enum DefragStatus
{
    /// <summary>Queued; the datagram is not complete yet (the kernel's NF_STOLEN).</summary>
    Held,

    /// <summary>Thrown away by reassembly (a duplicate, or a fragment that discarded its whole queue); see the reason.</summary>
    Discarded,

    /// <summary>It completed its datagram: <see cref="DefragResult.Datagram"/> crosses netfilter instead.</summary>
    Complete,

    /// <summary>Not reassembled: it goes on as it is (IPv6 fragment data not a multiple of 8, no fragment header found).</summary>
    PassedOn,
}

/// <summary>
/// The outcome of <see cref="Defrag.Gather"/>. For a completed datagram: how many fragments made it, the largest
/// fragment's size (the kernel's frag_max_size, which caps the size it is fragmented to again on output) and the data
/// length of each piece in offset order (kept as they are when the datagram leaves, if they fit).
/// </summary>
internal readonly record struct DefragResult(
    DefragStatus Status, string? Reason = null, Packet? Datagram = null, int Fragments = 0, int MaxFragmentSize = 0, IReadOnlyList<int>? Pieces = null);

/// <summary>
/// nf_defrag_ipv4 / nf_defrag_ipv6: IP fragments gathered at PREROUTING and OUTPUT (priority -400, before raw) until
/// their datagram is complete, as ip_defrag (net/ipv4/ip_fragment.c, inet_fragment.c) and nf_ct_frag6_gather
/// (net/ipv6/netfilter/nf_conntrack_reasm.c) do in Linux 6.x:
/// <list type="bullet">
/// <item>Queues are keyed by source, destination, identification, the defrag user (the hook: PREROUTING and OUTPUT
/// keep separate queues; conntrack zone 0, as no rule runs before -400) and, for IPv4, the protocol; for IPv6 the
/// interface too when the destination is link-local or multicast.</item>
/// <item>A queue lives net.ipv4.ipfrag_time (30 s) / net.netfilter.nf_conntrack_frag6_timeout (60 s) from its first
/// fragment; an incomplete one is then gone (conntrack's queues send no ICMP time exceeded).</item>
/// <item>Fragments are kept as the kernel's runs: a fragment inside one run already held is a duplicate and is
/// discarded, the queue kept; any other overlap discards the whole queue (RFC 5722, and IPv4 since 4.19). So do a
/// second last fragment with another end, data past the end, an empty fragment, and more than 65,535 bytes.</item>
/// <item>IPv4 fragments with more to come are cut to a multiple of 8; an IPv6 one that is not a multiple of 8 discards
/// its queue and goes on unreassembled.</item>
/// <item>The datagram is complete when the first and last fragments are in and the bytes held equal its length. It
/// takes the first fragment's header (IPv4: DF set only when the largest fragment had DF; IPv6: the fragment header
/// removed).</item>
/// </list>
/// Not modelled: ipfrag_max_dist (a queue restarted when 64 other fragments from its source came in between), the
/// memory thresholds, the ECN combination check of ip_frag_reasm.
/// </summary>
internal sealed class Defrag(Sysctls sysctls)
{
    private readonly long _ipv4Timeout = sysctls.GetLong("net.ipv4.ipfrag_time", 30) * 1_000_000_000L;
    private readonly long _ipv6Timeout = sysctls.GetLong("net.netfilter.nf_conntrack_frag6_timeout", 60) * 1_000_000_000L;
    private readonly Dictionary<Key, FragQueue> _queues = [];

    /// <summary>How many incomplete datagrams are held now (expired ones are forgotten when the next fragment comes).</summary>
    public int Pending => _queues.Count;

    private readonly record struct Key(Family Family, Address Source, Address Destination, uint Id, byte Protocol, bool Output, string? Interface);

    /// <summary>One held fragment: its data range [Offset, End) and the bytes of it the capture holds.</summary>
    private sealed record Fragment(int Offset, int End, ReadOnlyMemory<byte> Data);

    /// <summary>A run: fragments that arrived each right after the previous one at the end of the queue.</summary>
    private sealed class Run(int start)
    {
        public int Start { get; } = start;
        public int End { get; set; } = start;
    }

    private sealed class FragQueue(Timestamp expires)
    {
        public Timestamp Expires { get; } = expires;
        public List<Run> Runs { get; } = [];
        public List<Fragment> Fragments { get; } = [];
        public Run? Tail { get; set; }
        public int Length { get; set; }
        public bool FirstIn { get; set; }
        public bool LastIn { get; set; }
        public int Meat { get; set; }
        public int MaxSize { get; set; }
        public int MaxDfSize { get; set; }
        public int Count { get; set; }
        public Packet? First { get; set; }
        public FragmentPiece FirstPiece { get; set; }
    }

    /// <summary>Gathers one fragment (<see cref="Reassembly.IsFragment"/> true) seen at <paramref name="hook"/>.</summary>
    public DefragResult Gather(Packet packet, Hook hook, string? inInterface)
    {
        var ip = packet.Ip!;
        var now = packet.Time;
        Expire(now);
        if (Reassembly.Piece(packet) is not { } piece)
            return new DefragResult(DefragStatus.PassedOn);
        bool v4 = ip.Family == Family.IPv4;
        string? iface = !v4 && (IsLinkLocal(ip.Destination) || IsMulticast(ip.Destination)) ? inInterface : null;
        var key = new Key(ip.Family, ip.Source, ip.Destination, ip.Id, v4 ? ip.Protocol : (byte)0, hook == Hook.Output, iface);
        if (!_queues.TryGetValue(key, out var q))
            _queues[key] = q = new FragQueue(new Timestamp(now.Nanoseconds + (v4 ? _ipv4Timeout : _ipv6Timeout)));

        int offset = piece.Offset;
        int end = offset + piece.DataLength;
        if (end > 65535 && !v4)
            return new DefragResult(DefragStatus.Discarded, "fragment ends past 65,535 bytes (reassembly discards it)");
        if (!piece.More)
        {
            if (end < q.Length || (q.LastIn && end != q.Length))
                return Discard(key, q, "a last fragment that ends elsewhere than the datagram's end");
            q.LastIn = true;
            q.Length = end;
        }
        else
        {
            if ((end & 7) != 0)
            {
                if (!v4)
                {
                    _queues.Remove(key);
                    return new DefragResult(DefragStatus.PassedOn, "fragment data not a multiple of 8 bytes");
                }
                end &= ~7;
            }
            if (end > q.Length)
            {
                if (q.LastIn) return Discard(key, q, "fragment data past the end of the datagram");
                q.Length = end;
            }
        }
        if (end == offset)
            return Discard(key, q, "an empty fragment");

        switch (Insert(q, offset, end))
        {
            case Placement.Duplicate:
                return new DefragResult(DefragStatus.Discarded, "duplicate fragment (reassembly discards it)");
            case Placement.Overlap:
                return Discard(key, q, "overlapping fragment");
        }
        var data = piece.Data.Length > end - offset ? piece.Data[..(end - offset)] : piece.Data;
        q.Fragments.Add(new Fragment(offset, end, data));
        q.Meat += end - offset;
        q.Count++;
        if (offset == 0)
        {
            q.FirstIn = true;
            q.First = packet;
            q.FirstPiece = piece;
        }
        int size = v4 ? end - offset + piece.HeaderLength : ip.TotalLength;
        q.MaxSize = Math.Max(q.MaxSize, size);
        if (v4 && ip.DontFragment) q.MaxDfSize = Math.Max(q.MaxDfSize, size);

        if (!(q.FirstIn && q.LastIn && q.Meat == q.Length))
            return new DefragResult(DefragStatus.Held, "held for reassembly");

        _queues.Remove(key);
        int header = v4 ? q.FirstPiece.HeaderLength : q.FirstPiece.HeaderLength - 8;
        if (header + q.Length > 65535)
            return new DefragResult(DefragStatus.Discarded, "reassembled datagram longer than 65,535 bytes");
        var bytes = Glue(q);
        var datagram = Reassembly.Assemble(q.First!, q.FirstPiece, packet, bytes, q.Length, dontFragment: v4 && q.MaxDfSize == q.MaxSize);
        var pieces = q.Fragments.OrderBy(f => f.Offset).Select(f => f.End - f.Offset).ToArray();
        return new DefragResult(DefragStatus.Complete, null, datagram, q.Count, Math.Max(q.MaxSize, q.MaxDfSize), pieces);
    }

    private enum Placement { Added, Duplicate, Overlap }

    /// <summary>inet_frag_queue_insert: append at the tail (extending its run when contiguous), else find the run it falls in.</summary>
    private static Placement Insert(FragQueue q, int offset, int end)
    {
        var tail = q.Tail;
        if (tail is null || tail.End < end)
        {
            if (tail is not null && offset < tail.End) return Placement.Overlap;
            if (tail is not null && offset == tail.End)
            {
                tail.End = end;
            }
            else
            {
                var run = new Run(offset) { End = end };
                q.Runs.Add(run);
                q.Tail = run;
            }
            return Placement.Added;
        }
        Run? hit = null;
        int hits = 0;
        foreach (var run in q.Runs)
        {
            if (end <= run.Start || offset >= run.End) continue;
            hit = run;
            hits++;
        }
        if (hits == 0)
        {
            q.Runs.Add(new Run(offset) { End = end });
            return Placement.Added;
        }
        return hits == 1 && offset >= hit!.Start && end <= hit.End ? Placement.Duplicate : Placement.Overlap;
    }

    /// <summary>The data in offset order, as far as it is known without a gap (a fragment cut by the capture ends it).</summary>
    private static byte[] Glue(FragQueue q)
    {
        var buffer = new byte[q.Length];
        int known = 0;
        foreach (var f in q.Fragments.OrderBy(f => f.Offset))
        {
            if (f.Offset > known) break;
            f.Data.Span.CopyTo(buffer.AsSpan(f.Offset));
            known = f.Offset + f.Data.Length;
            if (f.Data.Length < f.End - f.Offset) break;
        }
        return known == buffer.Length ? buffer : buffer[..known];
    }

    private DefragResult Discard(Key key, FragQueue q, string why)
    {
        _queues.Remove(key);
        int held = q.Count;
        return new DefragResult(DefragStatus.Discarded, held == 0
            ? why + ": reassembly discards it"
            : Engine.Invariant($"{why}: reassembly discards it and the {held} fragment{(held == 1 ? "" : "s")} held with it"));
    }

    /// <summary>Forgets the queues whose timer ran out (lazily: the kernel's timer fires at the expiry).</summary>
    private void Expire(Timestamp now)
    {
        if (_queues.Count == 0) return;
        List<Key>? gone = null;
        foreach (var (key, q) in _queues)
            if (q.Expires <= now) (gone ??= []).Add(key);
        if (gone is null) return;
        foreach (var key in gone) _queues.Remove(key);
    }

    private static bool IsLinkLocal(Address a) => a.Family == Family.IPv6 && (a.Value >> 118) == 0x3FA;

    private static bool IsMulticast(Address a) => a.Family == Family.IPv6 && (a.Value >> 120) == 0xFF;
}
