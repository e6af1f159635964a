using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;

namespace Harness.Engine;

/// <summary>One element dimension of an ipset type: an address/network, or a protocol:port.</summary>
public enum IpSetDimension
{
    Address,
    Port,
}

/// <summary>One member of a set: one value per dimension (addresses as networks, ports with their protocol).</summary>
public sealed record IpSetEntry(ImmutableArray<Cidr> Networks, byte Protocol = 0, ushort Port = 0);

/// <summary>
/// An ipset as `ipset save` describes it: hash:ip, hash:net, hash:ip,port, hash:net,port, hash:ip,port,ip,
/// hash:ip,port,net, bitmap:port. Members are kept in the order they were added.
/// </summary>
public sealed record IpSet(string Name, string Type, Family Family, ImmutableArray<IpSetEntry> Entries)
{
    public ImmutableArray<IpSetDimension> Dimensions { get; } = DimensionsOf(Type);

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

    /// <summary>True when a member matches the packet's values (one per dimension, already picked src/dst by the caller).</summary>
    public bool Contains(ReadOnlySpan<Address> addresses, byte protocol, ushort port)
    {
        foreach (var e in Entries)
        {
            bool ok = true;
            int ai = 0;
            foreach (var d in Dimensions)
            {
                if (d == IpSetDimension.Address)
                {
                    if (ai >= addresses.Length || ai >= e.Networks.Length || !e.Networks[ai].Contains(addresses[ai])) { ok = false; break; }
                    ai++;
                }
                else if (e.Protocol != protocol || e.Port != port)
                {
                    ok = false;
                    break;
                }
            }
            if (ok) return true;
        }
        return false;
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
    /// Reads `ipset save` output ("create NAME TYPE family inet …" then "add NAME MEMBER" lines).
    /// Errors name the source and line.
    /// </summary>
    public static IpSets Parse(string text, string sourceName)
    {
        var order = new List<string>();
        var types = new Dictionary<string, (string Type, Family Family)>(StringComparer.Ordinal);
        var members = new Dictionary<string, List<IpSetEntry>>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string Where() => string.Create(CultureInfo.InvariantCulture, $"{sourceName}:{i + 1}");
            if (words[0] == "create" && words.Length >= 3)
            {
                var family = Family.IPv4;
                for (int w = 3; w + 1 < words.Length; w++)
                    if (words[w] == "family") family = words[w + 1] == "inet6" ? Family.IPv6 : Family.IPv4;
                try { IpSet.DimensionsOf(words[2]); }
                catch (FormatException e) { throw new FormatException($"{Where()}: {e.Message}"); }
                types[words[1]] = (words[2], family);
                members[words[1]] = [];
                order.Add(words[1]);
            }
            else if (words[0] == "add" && words.Length >= 3)
            {
                if (!types.TryGetValue(words[1], out var t))
                    throw new FormatException($"{Where()}: set '{words[1]}' is added to before it is created");
                members[words[1]].Add(ParseMember(words[2], t.Type, Where()));
            }
            else
            {
                throw new FormatException($"{Where()}: expected \"create NAME TYPE …\" or \"add NAME MEMBER\", got \"{line}\"");
            }
        }
        var sets = ImmutableSortedDictionary.CreateBuilder<string, IpSet>(StringComparer.Ordinal);
        foreach (var name in order)
            sets[name] = new IpSet(name, types[name].Type, types[name].Family, [.. members[name]]);
        return new IpSets(sets.ToImmutable());
    }

    private static IpSetEntry ParseMember(string text, string type, string where)
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
