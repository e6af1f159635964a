using System.Globalization;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;

namespace Harness.Engine.Conntrack;

/// <summary>
/// NAT bindings (nf_nat_setup_info / get_unique_tuple) and rewriting packets from them (nf_nat_packet and the ICMP
/// error translation).
/// </summary>
internal static class Nat
{
    private const int MaxAttempts = 128; // NF_NAT_MAX_ATTEMPTS

    public static bool IsSetUp(ConnEntry e, NatManipType manip) =>
        (e.Status & (manip == NatManipType.Source ? CtStatus.SrcNatDone : CtStatus.DstNatDone)) != 0;

    public static void Setup(ConntrackTable table, ConnEntry e, NatManipType manip, NatRange range)
    {
        if (range.MinAddress is null)
            throw new ArgumentException("a NAT range for SetupNat must carry addresses (use NatTargets for REDIRECT/MASQUERADE)", nameof(range));
        Bind(table, e, manip, range);
    }

    /// <summary>nf_nat_alloc_null_binding: map to the address the connection already has on that side.</summary>
    public static void SetupNull(ConntrackTable table, ConnEntry e, NatManipType manip)
    {
        var addr = manip == NatManipType.Source ? e.Reply.Destination : e.Reply.Source;
        Bind(table, e, manip, new NatRange(addr, addr, null, null));
    }

    /// <summary>Binds an unconfirmed entry (ConntrackTable never asks for a confirmed one, as nf_nat_setup_info).</summary>
    private static void Bind(ConntrackTable table, ConnEntry e, NatManipType manip, NatRange range)
    {
        var current = ConntrackTable.Invert(e.Reply);
        var chosen = UniqueTuple(table, e, current, range, manip);
        if (chosen != current)
        {
            e.Reply = ConntrackTable.Invert(chosen);
            e.Status |= manip == NatManipType.Source ? CtStatus.SrcNat : CtStatus.DstNat;
        }
        e.Status |= manip == NatManipType.Source ? CtStatus.SrcNatDone : CtStatus.DstNatDone;
    }

    /// <summary>get_unique_tuple: the tuple the connection will have after this manip, unique in the table.</summary>
    private static ConnTuple UniqueTuple(ConntrackTable table, ConnEntry ct, ConnTuple orig, NatRange range, NatManipType manip)
    {
        bool randomAll = range.Random || range.FullyRandom;
        if (manip == NatManipType.Source && !randomAll)
        {
            // 1. Keep the tuple when it is already in range and free; else reuse this source's existing mapping.
            if (InRange(orig, range))
            {
                if (!Used(table, orig, ct)) return orig;
            }
            else if (FindSourceMapping(table, ct, orig, range) is { } mapped && !Used(table, mapped, ct))
            {
                return mapped;
            }
        }
        // 2. The address: a hash of the addresses picks one of the range (find_best_ips_proto).
        var tuple = BestAddress(ct, orig, range, manip);
        // 3. The port: keep it when in range and free, else search.
        if (!randomAll)
        {
            if (range.HasPorts)
            {
                if (range.BasePort is null && PortInRange(tuple, manip, range)
                    && (range.MinPort == range.MaxPort || !Used(table, tuple, ct))) return tuple;
            }
            else if (!Used(table, tuple, ct))
            {
                return tuple;
            }
        }
        return SearchPort(table, ct, tuple, range, manip);
    }

    private static bool InRange(ConnTuple t, NatRange r)
    {
        if (r.MinAddress is { } min && r.MaxAddress is { } max && (t.Source.Value < min.Value || t.Source.Value > max.Value)) return false;
        return !r.HasPorts || PortInRange(t, NatManipType.Source, r);
    }

    private static bool PortInRange(ConnTuple t, NatManipType manip, NatRange r)
    {
        ushort key = KeyOf(t, manip, out bool hasKey);
        return !hasKey || (key >= r.MinPort!.Value && key <= r.MaxPort!.Value);
    }

    /// <summary>The id NAT may change: the port of the manip side, or the ICMP echo id.</summary>
    private static ushort KeyOf(ConnTuple t, NatManipType manip, out bool hasKey)
    {
        hasKey = t.HasPorts || t.IsIcmp;
        if (t.IsIcmp) return t.IcmpId;
        return manip == NatManipType.Source ? t.SourcePort : t.DestinationPort;
    }

    private static ConnTuple WithKey(ConnTuple t, NatManipType manip, ushort key)
    {
        if (t.IsIcmp) return t with { SourcePort = key };
        return manip == NatManipType.Source ? t with { SourcePort = key } : t with { DestinationPort = key };
    }

    /// <summary>nf_nat_used_tuple: would the reply of this tuple clash with another live entry?</summary>
    private static bool Used(ConntrackTable table, ConnTuple t, ConnEntry ignored) =>
        table.IsTakenLive(ConntrackTable.Invert(t), ignored.ZoneSpec, ignored, ignored.Created);

    /// <summary>find_appropriate_src: the newest connection from the same source already SNATed into the range.</summary>
    private static ConnTuple? FindSourceMapping(ConntrackTable table, ConnEntry ct, ConnTuple orig, NatRange range)
    {
        ushort zone = ct.ZoneIdOf(CtDirection.Original);
        foreach (var other in table.EntriesFromSource(orig, zone))
        {
            if (other.ZoneIdOf(CtDirection.Original) != zone || (other.Status & CtStatus.SrcNatDone) == 0 || other.Expires <= ct.Created) continue;
            var o = other.Original;
            if (o.Family != orig.Family || o.Protocol != orig.Protocol || o.Source != orig.Source || o.SourcePort != orig.SourcePort) continue;
            // The source part of the inverted reply tuple, this tuple's destination part: for ICMP the id is the
            // source "port" in both directions, the destination part is the type and code.
            var mappedSource = ConntrackTable.Invert(other.Reply);
            var result = orig with { Source = mappedSource.Source, SourcePort = mappedSource.SourcePort };
            if (InRange(result, range)) return result;
        }
        return null;
    }

    /// <summary>find_best_ips_proto: the kernel's jhash of the source (and, unless persistent, destination) address.</summary>
    private static ConnTuple BestAddress(ConnEntry ct, ConnTuple tuple, NatRange range, NatManipType manip)
    {
        if (range.MinAddress is not { } min || range.MaxAddress is not { } max) return tuple;
        if (min == max) return manip == NatManipType.Source ? tuple with { Source = min } : tuple with { Destination = min };
        var srcWords = Words(tuple.Source);
        var dstWords = Words(tuple.Destination);
        int last = tuple.Family == Family.IPv4 ? 0 : 3;
        uint j = JHash.Hash2(srcWords, range.Persistent ? 0u : dstWords[last] ^ ct.Zone);
        var minWords = Words(min);
        var maxWords = Words(max);
        var result = new uint[4];
        bool fullRange = false;
        for (int i = 0; i <= last; i++)
        {
            uint minip, dist;
            if (!fullRange)
            {
                minip = Be(minWords[i]);
                uint maxip = Be(maxWords[i]);
                dist = maxip - minip + 1;
            }
            else
            {
                minip = 0;
                dist = uint.MaxValue;
            }
            result[i] = Be(minip + (uint)(((ulong)j * dist) >> 32));
            if (result[i] != maxWords[i]) fullRange = true;
            if (!range.Persistent) j ^= dstWords[i];
        }
        var chosen = FromWords(result, tuple.Family);
        return manip == NatManipType.Source ? tuple with { Source = chosen } : tuple with { Destination = chosen };
    }

    /// <summary>nf_nat_l4proto_unique_tuple: search the port (or ICMP id) range for a free tuple.</summary>
    private static ConnTuple SearchPort(ConntrackTable table, ConnEntry ct, ConnTuple tuple, NatRange range, NatManipType manip)
    {
        uint min, size;
        ushort key = KeyOf(tuple, manip, out bool hasKey);
        if (!hasKey) return tuple;
        if (tuple.IsIcmp)
        {
            if (!range.HasPorts) { min = 0; size = 65536; }
            else { min = range.MinPort!.Value; size = (uint)(range.MaxPort!.Value - range.MinPort.Value + 1); }
        }
        else if (!range.HasPorts)
        {
            if (manip == NatManipType.Destination) return tuple; // a destination port is never changed unless asked
            if (key < 1024)
            {
                if (key < 512) { min = 1; size = 511; }
                else { min = 600; size = 1023 - 600 + 1; }
            }
            else { min = 1024; size = 65535 - 1024 + 1; }
        }
        else
        {
            uint a = range.MinPort!.Value, b = range.MaxPort!.Value;
            if (b < a) (a, b) = (b, a);
            min = a;
            size = b - a + 1;
        }
        bool randomOffset = range.Random || range.FullyRandom || manip != NatManipType.Destination;
        uint round = 0;
        // DNAT's /BASE shifts the port by its distance from BASE (NF_NAT_RANGE_PROTO_OFFSET); else a random start.
        uint off = range.BasePort is { } basePort ? (ushort)(key - basePort)
            : randomOffset ? Offset(table, ct, round) : 0;
        uint attempts = Math.Min(size, MaxAttempts);
        while (true)
        {
            for (uint i = 0; i < attempts; i++, off = (ushort)(off + 1))
            {
                var candidate = WithKey(tuple, manip, (ushort)(min + off % size));
                if (!Used(table, candidate, ct)) return candidate;
            }
            if (attempts >= size || attempts < 16) return WithKey(tuple, manip, (ushort)(min + (off - 1) % size));
            attempts /= 2;
            off = Offset(table, ct, ++round);
        }
    }

    /// <summary>The kernel starts the port search at a random 16-bit offset; here a hash of the original tuple and the table's seed.</summary>
    private static uint Offset(ConntrackTable table, ConnEntry ct, uint round)
    {
        var o = ct.Original;
        var words = new uint[] { (uint)o.Source.Value, (uint)o.Destination.Value, (uint)(o.SourcePort << 16 | o.DestinationPort), o.Protocol };
        return (ushort)JHash.Hash2(words, table.NatSeed + round);
    }

    // The kernel hashes addresses as they lie in memory (network byte order read as little-endian 32-bit words).
    private static uint[] Words(Address a)
    {
        var w = new uint[4];
        if (a.Family == Family.IPv4) w[0] = Be((uint)a.Value);
        else for (int i = 0; i < 4; i++) w[i] = Be((uint)(a.Value >> (96 - 32 * i)));
        return w;
    }

    private static Address FromWords(uint[] w, Family f)
    {
        if (f == Family.IPv4) return Address.V4(Be(w[0]));
        UInt128 v = 0;
        for (int i = 0; i < 4; i++) v = (v << 32) | Be(w[i]);
        return new Address(v, Family.IPv6);
    }

    private static uint Be(uint x) => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(x);

    // ---- rewriting packets ----

    /// <param name="ownBytes">The array behind the packet's bytes when the caller owns it (patched in place), else null (copied).</param>
    public static Packet Apply(CtPacket ct, Packet packet, NatManipType manip, byte[]? ownBytes)
    {
        if (ct.Entry is not { } e || packet.Ip is null) return packet;
        if (ct.State == CtState.Related && packet.Transport is IcmpHeader { IsError: true } icmp)
            return TranslateIcmpError(ct, e, packet, icmp, manip, ownBytes);
        var statusBit = manip == NatManipType.Source ? CtStatus.SrcNat : CtStatus.DstNat;
        if (ct.Direction == CtDirection.Reply) statusBit = statusBit == CtStatus.SrcNat ? CtStatus.DstNat : CtStatus.SrcNat;
        if ((e.Status & statusBit) == 0) return packet;
        var target = ConntrackTable.Invert(e.TupleOf(Other(ct.Direction)));
        var rewritten = PacketRewriter.Manip(packet, target, manip, ownBytes);
        // Every packet of one direction of a connection is rewritten the same way (from and to its tuples): the text
        // is made once per direction and manip type.
        int slot = (int)ct.Direction * 2 + (manip == NatManipType.Source ? 0 : 1);
        var texts = e.NatTexts ??= new string?[4];
        ct.AddNatApplied(texts[slot] ??= Describe(packet, rewritten, manip));
        return rewritten;
    }

    /// <summary>nf_nat_icmp_reply_translation: un-NAT the quoted packet, then make the outer header the reply's.</summary>
    private static Packet TranslateIcmpError(CtPacket ct, ConnEntry e, Packet packet, IcmpHeader icmp, NatManipType manip, byte[]? ownBytes)
    {
        var statusBit = manip == NatManipType.Source ? CtStatus.SrcNat : CtStatus.DstNat;
        if (ct.Direction == CtDirection.Reply) statusBit = statusBit == CtStatus.SrcNat ? CtStatus.DstNat : CtStatus.SrcNat;
        if (!icmp.IsV6 && icmp.Type == 5 && (e.IsSnat || e.IsDnat)) return packet; // redirects of NATed connections: the kernel drops them
        if ((e.Status & statusBit) == 0) return packet;
        var other = e.TupleOf(Other(ct.Direction));
        var innerManip = manip == NatManipType.Source ? NatManipType.Destination : NatManipType.Source;
        var outerTarget = ConntrackTable.Invert(other) with { Protocol = packet.Ip!.Protocol };
        var rewritten = PacketRewriter.ManipIcmpError(packet, other, innerManip, outerTarget, manip, ownBytes);
        Record(ct, packet, rewritten, manip);
        return rewritten;
    }

    private static void Record(CtPacket ct, Packet before, Packet after, NatManipType manip) => ct.AddNatApplied(Describe(before, after, manip));

    /// <summary>What NAT did to the packet, e.g. "dst 203.0.113.1:80->10.0.0.2:8080".</summary>
    private static string Describe(Packet before, Packet after, NatManipType manip)
    {
        var b = before.Ip!;
        var a = after.Ip!;
        string Port(Packet p, bool src) => p.Transport switch
        {
            TcpHeader t => ":" + (src ? t.SourcePort : t.DestinationPort).ToString(CultureInfo.InvariantCulture),
            UdpHeader u => ":" + (src ? u.SourcePort : u.DestinationPort).ToString(CultureInfo.InvariantCulture),
            SctpHeader s => ":" + (src ? s.SourcePort : s.DestinationPort).ToString(CultureInfo.InvariantCulture),
            IcmpHeader { IsError: false } i => " id " + i.Identifier.ToString(CultureInfo.InvariantCulture),
            _ => "",
        };
        string Fmt(Address addr, string port) => addr.Family == Family.IPv6 && port.StartsWith(':') ? $"[{addr}]{port}" : addr + port;
        var text = manip == NatManipType.Source
            ? $"src {Fmt(b.Source, Port(before, true))}->{Fmt(a.Source, Port(after, true))}"
            : $"dst {Fmt(b.Destination, Port(before, false))}->{Fmt(a.Destination, Port(after, false))}";
        if (after.Transport is IcmpHeader { IsError: true }) text += " (and the quoted packet)";
        return text;
    }

    private static CtDirection Other(CtDirection d) => d == CtDirection.Original ? CtDirection.Reply : CtDirection.Original;
}

/// <summary>Bob Jenkins' lookup3 as the kernel's jhash2, for choosing NAT addresses exactly as the kernel does.</summary>
internal static class JHash
{
    private const uint InitVal = 0xdeadbeef;

    public static uint Hash2(ReadOnlySpan<uint> k, uint initval)
    {
        uint length = (uint)k.Length;
        uint a, b, c;
        a = b = c = InitVal + (length << 2) + initval;
        int i = 0;
        while (length > 3)
        {
            a += k[i]; b += k[i + 1]; c += k[i + 2];
            Mix(ref a, ref b, ref c);
            length -= 3;
            i += 3;
        }
        switch (length)
        {
            case 3: c += k[i + 2]; goto case 2;
            case 2: b += k[i + 1]; goto case 1;
            case 1:
                a += k[i];
                Final(ref a, ref b, ref c);
                break;
        }
        return c;
    }

    private static uint Rol(uint x, int n) => (x << n) | (x >> (32 - n));

    private static void Mix(ref uint a, ref uint b, ref uint c)
    {
        a -= c; a ^= Rol(c, 4); c += b;
        b -= a; b ^= Rol(a, 6); a += c;
        c -= b; c ^= Rol(b, 8); b += a;
        a -= c; a ^= Rol(c, 16); c += b;
        b -= a; b ^= Rol(a, 19); a += c;
        c -= b; c ^= Rol(b, 4); b += a;
    }

    private static void Final(ref uint a, ref uint b, ref uint c)
    {
        c ^= b; c -= Rol(b, 14);
        a ^= c; a -= Rol(c, 11);
        b ^= a; b -= Rol(a, 25);
        c ^= b; c -= Rol(b, 16);
        a ^= c; a -= Rol(c, 4);
        b ^= a; b -= Rol(a, 14);
        c ^= b; c -= Rol(b, 24);
    }
}
