using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Engine;

/// <summary>One element dimension of an ipset type: an address/network, or a protocol:port.</summary>
public enum IpSetDimension
{
    Address,
    Port,
}

/// <summary>
/// One member of a set: one value per dimension (addresses as networks, ports with their protocol), and, as `ipset save`
/// gives them, its remaining <see cref="Timeout"/> in seconds (null: the set's default; 0: permanent) and its counters.
/// </summary>
public sealed record IpSetEntry(ImmutableArray<Cidr> Networks, byte Protocol = 0, ushort Port = 0)
{
    /// <summary>Seconds left when the set was saved (counted from the capture's first packet); null = the set's default.</summary>
    public uint? Timeout { get; init; }

    public ulong Packets { get; init; }

    public ulong Bytes { get; init; }

    /// <summary>True when both are the same element (same values per dimension), whatever their timeouts and counters.</summary>
    public bool SameElement(IpSetEntry other) =>
        Protocol == other.Protocol && Port == other.Port && Networks.SequenceEqual(other.Networks);
}

/// <summary>
/// An ipset as `ipset save` describes it: hash:ip, hash:net, hash:ip,port, hash:net,port, hash:ip,port,ip,
/// hash:ip,port,net, bitmap:port. Members are kept in the order they were added. <see cref="Timeout"/> (create …
/// timeout N) gives the set entry timeouts, N the default; <see cref="Counters"/> (create … counters) keeps packets and
/// bytes per entry. This is the set as the case gives it; a replay changes its own <see cref="LiveIpSet"/>.
/// </summary>
public sealed record IpSet(string Name, string Type, Family Family, ImmutableArray<IpSetEntry> Entries)
{
    /// <summary>The default entry timeout in seconds (0: permanent) when the set supports timeouts; null when it does not.</summary>
    public uint? Timeout { get; init; }

    /// <summary>True when the set keeps per-entry packet and byte counters.</summary>
    public bool Counters { get; init; }

    public ImmutableArray<IpSetDimension> Dimensions { get; } = DimensionsOf(Type);

    /// <summary>For each dimension: true for a "net" one (its members are networks, e.g. both of hash:net,net's).</summary>
    public ImmutableArray<bool> NetDimensions { get; } = NetDimensionsOf(Type);

    private static ImmutableArray<bool> NetDimensionsOf(string type)
    {
        var colon = type.IndexOf(':');
        return [.. (colon < 0 ? type : type[(colon + 1)..]).Split(',').Select(p => p == "net")];
    }

    public static ImmutableArray<IpSetDimension> DimensionsOf(string type)
    {
        var colon = type.IndexOf(':');
        var parts = (colon < 0 ? type : type[(colon + 1)..]).Split(',');
        var dims = ImmutableArray.CreateBuilder<IpSetDimension>();
        foreach (var p in parts)
            dims.Add(p switch
            {
                "ip" or "net" => IpSetDimension.Address,
                "port" => IpSetDimension.Port,
                _ => throw new FormatException($"ipset type '{type}' is not supported (dimension '{p}')"),
            });
        return dims.ToImmutable();
    }

    /// <summary>True when a member contains the probe (one host address per address dimension, then protocol and port).</summary>
    public bool Contains(IpSetEntry probe)
    {
        Span<Address> addresses = stackalloc Address[probe.Networks.Length];
        for (int i = 0; i < addresses.Length; i++) addresses[i] = probe.Networks[i].Address;
        return Contains(addresses, probe.Protocol, probe.Port);
    }

    /// <summary>
    /// True when a member matches the packet's values (one per dimension, already picked src/dst by the caller), as saved:
    /// timeouts and counters play no part (a replay looks up its <see cref="LiveIpSet"/>).
    /// </summary>
    public bool Contains(ReadOnlySpan<Address> addresses, byte protocol, ushort port)
    {
        foreach (var e in Entries)
            if (Holds(e, addresses, protocol, port)) return true;
        return false;
    }

    /// <summary>True when member <paramref name="e"/> holds the values (its networks contain the addresses, same protocol:port).</summary>
    internal bool Holds(IpSetEntry e, ReadOnlySpan<Address> addresses, byte protocol, ushort port)
    {
        int ai = 0;
        foreach (var d in Dimensions)
        {
            if (d == IpSetDimension.Address)
            {
                if (ai >= addresses.Length || ai >= e.Networks.Length || !e.Networks[ai].Contains(addresses[ai])) return false;
                ai++;
            }
            else if (e.Protocol != protocol || e.Port != port)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>The ipsets of a case, by name.</summary>
public sealed class IpSets
{
    public static readonly IpSets Empty = new(ImmutableSortedDictionary<string, IpSet>.Empty);

    public IpSets(ImmutableSortedDictionary<string, IpSet> sets) => Sets = sets;

    public ImmutableSortedDictionary<string, IpSet> Sets { get; }

    public IpSet? Find(string name) => Sets.TryGetValue(name, out var s) ? s : null;

    /// <summary>
    /// Reads `ipset save` output ("create NAME TYPE family inet … [timeout N] [counters] …" then
    /// "add NAME MEMBER [timeout N] [packets N bytes N] [comment "…"]" lines). Errors name the source and line.
    /// Entry options the set was not created for are refused, as `ipset restore` refuses them; nomatch entries are
    /// refused (not modelled).
    /// </summary>
    public static IpSets Parse(string text, string sourceName)
    {
        var order = new List<string>();
        var headers = new Dictionary<string, IpSet>(StringComparer.Ordinal);
        var members = new Dictionary<string, List<IpSetEntry>>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string Where() => string.Create(CultureInfo.InvariantCulture, $"{sourceName}:{i + 1}");
            var words = Words(line, Where);
            if (words[0] == "create" && words.Count >= 3)
            {
                try { IpSet.DimensionsOf(words[2]); }
                catch (FormatException e) { throw new FormatException($"{Where()}: {e.Message}"); }
                var family = Family.IPv4;
                uint? timeout = null;
                bool counters = false;
                for (int w = 3; w < words.Count; w++)
                {
                    switch (words[w])
                    {
                        case "family" when w + 1 < words.Count:
                            family = words[++w] == "inet6" ? Family.IPv6 : Family.IPv4;
                            break;
                        case "timeout" when w + 1 < words.Count:
                            timeout = Seconds(words[++w], Where());
                            break;
                        case "counters":
                            counters = true;
                            break;
                        case "netmask" when w + 1 < words.Count:
                            // Members are stored as their networks: a different membership, not modelled (a full mask is a no-op).
                            if (words[++w] != (family == Family.IPv6 ? "128" : "32"))
                                throw new FormatException($"{Where()}: ipset create option 'netmask {words[w]}' is not supported");
                            break;
                        case "hashsize" or "maxelem" or "bucketsize" or "initval" or "markmask" or "size" or "range" when w + 1 < words.Count:
                            w++; // sizing of the kernel's hash, or a limit only a full set reaches (not modelled: see README)
                            break;
                        case "comment" or "skbinfo" or "forceadd":
                            break;
                        default:
                            throw new FormatException($"{Where()}: ipset create option '{words[w]}' is not supported");
                    }
                }
                headers[words[1]] = new IpSet(words[1], words[2], family, []) { Timeout = timeout, Counters = counters };
                members[words[1]] = [];
                order.Add(words[1]);
            }
            else if (words[0] == "add" && words.Count >= 3)
            {
                if (!headers.TryGetValue(words[1], out var set))
                    throw new FormatException($"{Where()}: set '{words[1]}' is added to before it is created");
                members[words[1]].Add(ParseMember(words, set, Where()));
            }
            else
            {
                throw new FormatException($"{Where()}: expected \"create NAME TYPE …\" or \"add NAME MEMBER\", got \"{line}\"");
            }
        }
        var sets = ImmutableSortedDictionary.CreateBuilder<string, IpSet>(StringComparer.Ordinal);
        foreach (var name in order)
            sets[name] = headers[name] with { Entries = [.. members[name]] };
        return new IpSets(sets.ToImmutable());
    }

    /// <summary>Splits a line into words; a double-quoted word (a comment) may hold spaces.</summary>
    private static List<string> Words(string line, Func<string> where)
    {
        var words = new List<string>();
        int i = 0;
        while (i < line.Length)
        {
            if (line[i] == ' ' || line[i] == '\t') { i++; continue; }
            if (line[i] == '"')
            {
                int end = line.IndexOf('"', i + 1);
                if (end < 0) throw new FormatException($"{where()}: unterminated quoted word");
                words.Add(line[(i + 1)..end]);
                i = end + 1;
                continue;
            }
            int start = i;
            while (i < line.Length && line[i] != ' ' && line[i] != '\t') i++;
            words.Add(line[start..i]);
        }
        return words;
    }

    private static uint Seconds(string text, string where) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? v : throw new FormatException($"{where}: '{text}' is not a timeout in seconds");

    private static ulong Count(string text, string where) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? v : throw new FormatException($"{where}: '{text}' is not a counter value");

    private static IpSetEntry ParseMember(List<string> words, IpSet set, string where)
    {
        var entry = ParseElement(words[2], set.Type, where);
        for (int w = 3; w < words.Count; w++)
        {
            var option = words[w];
            if (option == "nomatch") throw new FormatException($"{where}: nomatch entries are not modelled");
            if (w + 1 >= words.Count) throw new FormatException($"{where}: '{option}' needs a value");
            var value = words[++w];
            switch (option)
            {
                case "timeout":
                    if (set.Timeout is null) throw new FormatException($"{where}: set '{set.Name}' was created without timeout support, the member gives one");
                    entry = entry with { Timeout = Seconds(value, where) };
                    break;
                case "packets" or "bytes":
                    if (!set.Counters) throw new FormatException($"{where}: set '{set.Name}' was created without counters, the member gives {option}");
                    entry = option == "packets" ? entry with { Packets = Count(value, where) } : entry with { Bytes = Count(value, where) };
                    break;
                case "comment" or "skbmark" or "skbprio" or "skbqueue":
                    break; // no effect on matching
                default:
                    throw new FormatException($"{where}: member option '{option}' is not supported");
            }
        }
        return entry;
    }

    private static IpSetEntry ParseElement(string text, string type, string where)
    {
        var dims = IpSet.DimensionsOf(type);
        var parts = text.Split(',');
        if (parts.Length != dims.Length) throw new FormatException($"{where}: member '{text}' does not fit type {type}");
        var nets = ImmutableArray.CreateBuilder<Cidr>();
        byte proto = 0;
        ushort port = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            if (dims[i] == IpSetDimension.Address)
            {
                if (!Cidr.TryParse(parts[i], out var c)) throw new FormatException($"{where}: '{parts[i]}' is not an address or network");
                nets.Add(c);
            }
            else
            {
                var p = parts[i];
                var colon = p.IndexOf(':');
                proto = IpProtocol.Tcp;
                if (colon >= 0)
                {
                    if (!IpProtocol.TryParse(p[..colon], out proto)) throw new FormatException($"{where}: unknown protocol in '{p}'");
                    p = p[(colon + 1)..];
                }
                if (!ushort.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out port))
                    throw new FormatException($"{where}: '{p}' is not a port");
            }
        }
        return new IpSetEntry(nets.ToImmutable(), proto, port);
    }
}

/// <summary>One member of a set during a replay: its element, when it expires (null: never) and its counters.</summary>
public sealed class LiveIpSetMember
{
    internal LiveIpSetMember(IpSetEntry element) => Element = element;

    public IpSetEntry Element { get; }

    public Timestamp? Expires { get; internal set; }

    public ulong Packets { get; internal set; }

    public ulong Bytes { get; internal set; }

    /// <summary>As the kernel: still there at the moment of expiry, gone once the clock is past it.</summary>
    public bool ExpiredAt(Timestamp now) => Expires is { } e && now > e;
}

/// <summary>
/// An ipset as one replay changes it (ip_set_core with the types' timeout and counter extensions): the case's members,
/// added to and deleted from by -j SET, expiring on the capture clock, counting the packets -m set finds them for.
/// Mutable, one per replay. The saved members' remaining timeouts count from <see cref="Start"/> (the capture's first
/// packet; the first operation's time when nothing started the clock).
/// </summary>
public sealed class LiveIpSet
{
    /// <summary>The longest entry timeout the kernel keeps (milliseconds must fit in half a uint), in seconds.</summary>
    public const uint MaxTimeout = (uint.MaxValue >> 1) / 1000;

    /// <summary>SET --timeout's value for "not given": the set's default timeout applies.</summary>
    public const uint NoTimeout = uint.MaxValue;

    private readonly List<LiveIpSetMember> _members = [];
    private bool _started;

    public LiveIpSet(IpSet definition)
    {
        Definition = definition;
        foreach (var e in definition.Entries) _members.Add(new LiveIpSetMember(e) { Packets = e.Packets, Bytes = e.Bytes });
    }

    public IpSet Definition { get; }

    /// <summary>Starts the set's clock: saved members expire their remaining timeout after this. Only the first call counts.</summary>
    public void Start(Timestamp start)
    {
        if (_started) return;
        _started = true;
        if (Definition.Timeout is not { } byDefault) return;
        foreach (var m in _members) m.Expires = ExpiryOf(start, m.Element.Timeout ?? byDefault);
    }

    /// <summary>The members not expired at <paramref name="now"/>, in the order they were added.</summary>
    public IReadOnlyList<LiveIpSetMember> MembersAt(Timestamp now)
    {
        Start(now);
        return [.. _members.Where(m => !m.ExpiredAt(now))];
    }

    /// <summary>
    /// The lookup of -m set: true when a live member holds the packet's values and, in a set with counters, passes the
    /// counter tests after its counters took this packet (unless <paramref name="updateCounters"/> is false). Members
    /// holding the values are tried most specific network first, as the hash types try their prefix lengths; an
    /// expired member or one failing the tests lets the next one be tried. Counter tests on a set without counters are
    /// not applied (the kernel ignores them).
    /// </summary>
    public bool Test(IpSetEntry probe, Timestamp now, ulong length, bool updateCounters, SetCounterTest? packets, SetCounterTest? bytes)
    {
        Span<Address> addresses = stackalloc Address[probe.Networks.Length];
        for (int i = 0; i < addresses.Length; i++) addresses[i] = probe.Networks[i].Address;
        return Test(addresses, probe.Protocol, probe.Port, now, length, updateCounters, packets, bytes);
    }

    /// <inheritdoc cref="Test(IpSetEntry, Timestamp, ulong, bool, SetCounterTest?, SetCounterTest?)"/>
    public bool Test(ReadOnlySpan<Address> addresses, byte protocol, ushort port, Timestamp now, ulong length,
        bool updateCounters, SetCounterTest? packets, SetCounterTest? bytes)
    {
        Start(now);
        LiveIpSetMember? first = null;
        List<LiveIpSetMember>? all = null;
        foreach (var m in _members)
        {
            if (!Definition.Holds(m.Element, addresses, protocol, port)) continue;
            if (first is null) first = m;
            else (all ??= [first]).Add(m);
        }
        if (first is null) return false;
        if (all is null) return Found(first);
        foreach (var m in all.OrderBy(m => m.Element.Networks, MoreSpecificFirst.Instance))
            if (Found(m)) return true;
        return false;

        bool Found(LiveIpSetMember m)
        {
            if (m.ExpiredAt(now)) return false;
            if (!Definition.Counters) return true;
            if (updateCounters)
            {
                m.Packets++;
                m.Bytes += length;
            }
            return Passes(m.Packets, packets) && Passes(m.Bytes, bytes);
        }
    }

    private static bool Passes(ulong value, SetCounterTest? test) => test is not { } t || t.Comparison switch
    {
        CounterComparison.Equal => value == t.Value,
        CounterComparison.NotEqual => value != t.Value,
        CounterComparison.LessThan => value < t.Value,
        _ => value > t.Value,
    };

    /// <summary>
    /// The add of -j SET --add-set: a new element (or one whose entry expired) gets the timeout (<paramref name="timeout"/>
    /// seconds, capped at <see cref="MaxTimeout"/>, 0 permanent; null or <see cref="NoTimeout"/>: the set's default) when the
    /// set has timeouts — ignored when it has not, as the kernel ignores it — and counters of this one packet when the set
    /// has counters. A live element is left alone, unless <paramref name="exist"/>: then its timeout and counters start
    /// over the same way.
    /// </summary>
    public void Add(IpSetEntry element, Timestamp now, ulong length, uint? timeout, bool exist)
    {
        Start(now);
        _members.RemoveAll(m => m.ExpiredAt(now));
        var member = _members.Find(m => m.Element.SameElement(element));
        if (member is not null && !exist) return;
        if (member is null)
        {
            member = new LiveIpSetMember(element with { Timeout = null, Packets = 0, Bytes = 0 });
            _members.Add(member);
        }
        if (Definition.Counters)
        {
            member.Packets = 1;
            member.Bytes = length;
        }
        if (Definition.Timeout is { } byDefault)
            member.Expires = ExpiryOf(now, timeout is { } t && t != NoTimeout ? Math.Min(t, MaxTimeout) : byDefault);
    }

    /// <summary>
    /// The element -j SET adds or deletes for a packet's values (<paramref name="probe"/>: host addresses): a hash type's
    /// "net" dimension takes the longest prefix its live members use in that dimension (the kernel's kadt starts
    /// from h->nets[0], the most specific prefix in use), the host address when the set has no member.
    /// </summary>
    public IpSetEntry ElementForPacket(IpSetEntry probe, Timestamp now)
    {
        Start(now);
        var networks = probe.Networks;
        ImmutableArray<Cidr>.Builder? masked = null;
        int at = 0;
        for (int d = 0; d < Definition.Dimensions.Length; d++)
        {
            if (Definition.Dimensions[d] != IpSetDimension.Address) continue;
            int i = at++;
            if (!Definition.NetDimensions[d]) continue;
            int longest = -1;
            foreach (var m in _members)
                if (!m.ExpiredAt(now) && i < m.Element.Networks.Length) longest = Math.Max(longest, m.Element.Networks[i].PrefixLength);
            if (longest < 0 || longest >= networks[i].PrefixLength) continue;
            masked ??= networks.ToBuilder();
            var host = networks[i].Address;
            masked[i] = new Cidr(new Cidr(host, longest).Network, longest);
        }
        return masked is null ? probe : probe with { Networks = masked.ToImmutable() };
    }

    /// <summary>The delete of -j SET --del-set: the element goes, if it is there.</summary>
    public void Delete(IpSetEntry element, Timestamp now)
    {
        Start(now);
        _members.RemoveAll(m => m.Element.SameElement(element));
    }

    private static Timestamp? ExpiryOf(Timestamp from, uint seconds) =>
        seconds == 0 ? null : new Timestamp(from.Nanoseconds + seconds * 1_000_000_000L);

    /// <summary>Orders members by their networks' prefix lengths, longest first, dimension by dimension.</summary>
    private sealed class MoreSpecificFirst : IComparer<ImmutableArray<Cidr>>
    {
        public static readonly MoreSpecificFirst Instance = new();

        public int Compare(ImmutableArray<Cidr> x, ImmutableArray<Cidr> y)
        {
            for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
                if (x[i].PrefixLength != y[i].PrefixLength) return y[i].PrefixLength.CompareTo(x[i].PrefixLength);
            return 0;
        }
    }
}
