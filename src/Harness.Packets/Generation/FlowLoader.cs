using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Harness.Packets;

/// <summary>A flow description that cannot be read: file, line and column of the offending YAML node, and what was expected.</summary>
public sealed class FlowFormatException(string path, long line, long column, string detail)
    : Exception(string.Create(CultureInfo.InvariantCulture, $"{path}:{line}:{column}: {detail}"))
{
    public string Path { get; } = path;
    public long Line { get; } = line;
    public long Column { get; } = column;
    public string Detail { get; } = detail;
}

/// <summary>Reads the YAML flow format documented in docs/flows.md; every key is known or an error.</summary>
internal sealed class FlowLoader
{
    private static readonly Dictionary<string, FlowKind> Kinds = new(StringComparer.Ordinal)
    {
        ["tcp"] = FlowKind.Tcp,
        ["tcp-half-open"] = FlowKind.TcpHalfOpen,
        ["tcp-refused"] = FlowKind.TcpRefused,
        ["tcp-simultaneous-open"] = FlowKind.TcpSimultaneousOpen,
        ["tcp-midstream"] = FlowKind.TcpMidstream,
        ["tcp-out-of-window"] = FlowKind.TcpOutOfWindow,
        ["udp"] = FlowKind.Udp,
        ["icmp-echo"] = FlowKind.IcmpEcho,
        ["icmp-port-unreachable"] = FlowKind.IcmpPortUnreachable,
        ["icmp-frag-needed"] = FlowKind.IcmpFragNeeded,
    };

    private readonly string path;

    private FlowLoader(string path) => this.path = path;

    public static FlowSpec Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FlowFormatException(path, 0, 0, "cannot read the flow file: " + e.Message);
        }
        return Parse(text, path);
    }

    public static FlowSpec Parse(string text, string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new FlowFormatException(path, e.Start.Line, e.Start.Column, "not valid YAML: " + (e.InnerException?.Message ?? e.Message));
        }
        if (stream.Documents.Count != 1)
            throw new FlowFormatException(path, 1, 1, $"expected one YAML document, found {stream.Documents.Count}");
        return new FlowLoader(path).ReadSpec(stream.Documents[0].RootNode);
    }

    private FlowSpec ReadSpec(YamlNode root)
    {
        var map = Mapping(root, "the top level (keys: epoch, interfaces, flows)");
        var spec = new FlowSpec(ImmutableArray<FlowDescription>.Empty);
        YamlSequenceNode? flows = null;
        foreach (var (key, value) in Entries(map))
        {
            switch (key)
            {
                case "epoch": spec = spec with { Epoch = Epoch(value) }; break;
                case "interfaces": spec = spec with { InterfaceMacs = Interfaces(value) }; break;
                case "flows":
                    flows = value as YamlSequenceNode ?? throw Error(value, "flows must be a list of flows");
                    break;
                default: throw Error(value, $"unknown key '{key}' (expected epoch, interfaces, flows)");
            }
        }
        if (flows is null) throw Error(root, "no 'flows' list");
        var list = ImmutableArray.CreateBuilder<FlowDescription>();
        foreach (var node in flows) list.Add(ReadFlow(node, list.Count + 1));
        return spec with { Flows = list.ToImmutable() };
    }

    private ImmutableDictionary<string, MacAddress> Interfaces(YamlNode node)
    {
        var builder = ImmutableDictionary.CreateBuilder<string, MacAddress>(StringComparer.Ordinal);
        foreach (var (name, value) in Entries(Mapping(node, "interfaces (name: MAC address)")))
            builder[name] = MacAddress.TryParse(Scalar(value, name), out var mac) ? mac : throw Error(value, $"'{Scalar(value, name)}' is not a MAC address (aa:bb:cc:dd:ee:ff)");
        return builder.ToImmutable();
    }

    private FlowDescription ReadFlow(YamlNode node, int number)
    {
        var map = Mapping(node, "a flow (a mapping with kind, client, server, ingress, …)");
        var values = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(map)) values[key] = value;
        foreach (var required in new[] { "kind", "client", "server", "ingress" })
            if (!values.ContainsKey(required)) throw Error(node, $"flow {number} has no '{required}'");
        string kindText = Scalar(values["kind"], "kind");
        if (!Kinds.TryGetValue(kindText, out var kind))
            throw Error(values["kind"], $"unknown kind '{kindText}' (expected {string.Join(", ", Kinds.Keys)})");
        var flow = new FlowDescription
        {
            Name = values.TryGetValue("name", out var n) ? Scalar(n, "name") : string.Create(CultureInfo.InvariantCulture, $"flow {number}"),
            Kind = kind,
            Client = Endpoint(values["client"], "client"),
            Server = Endpoint(values["server"], "server"),
            Ingress = Scalar(values["ingress"], "ingress"),
            Origin = string.Create(CultureInfo.InvariantCulture, $"{path}:{node.Start.Line}"),
        };
        foreach (var (key, value) in values)
            flow = Apply(flow, key, value);
        Validate(flow, values, node);
        return flow;
    }

    private FlowDescription Apply(FlowDescription flow, string key, YamlNode value) => key switch
    {
        "name" or "kind" or "client" or "server" or "ingress" => flow,
        "reply-ingress" => Scalar(value, key) == "host"
            ? flow with { HostAnswers = true }
            : flow with { ReplyIngress = Scalar(value, key) },
        "snat" => flow with { Snat = Endpoint(value, key) },
        "dnat" => flow with { Dnat = Endpoint(value, key) },
        "start" => flow with { Start = Number(value, key, 0, 1e9) },
        "rtt" => flow with { Rtt = Number(value, key, 1e-9, 3600) },
        "request" => flow with { Request = (int)Integer(value, key, 0, 60000) },
        "response" => flow with { Response = (int)Integer(value, key, 0, 1_000_000_000) },
        "count" => flow with { Count = (int)Integer(value, key, 1, 65535) },
        "close" => flow with
        {
            Close = Scalar(value, key) switch
            {
                "fin" => TcpClose.Fin,
                "rst" => TcpClose.Rst,
                "none" => TcpClose.None,
                var other => throw Error(value, $"close '{other}' is not fin, rst or none"),
            },
        },
        "vlan" => flow with { Vlan = Vlans(value, key) },
        "reply-vlan" => flow with { ReplyVlan = Vlans(value, key) },
        "client-mac" => flow with { ClientMac = Mac(value, key) },
        "server-mac" => flow with { ServerMac = Mac(value, key) },
        "reporter" => flow with { Reporter = AddressOf(value, key) },
        "mtu" => flow with { Mtu = (int)Integer(value, key, 68, 65535) },
        "ttl" => flow with { Ttl = (byte)Integer(value, key, 0, 255) },
        _ => throw Error(value, $"unknown flow key '{key}' (expected name, kind, client, server, ingress, reply-ingress, snat, dnat, start, rtt, request, response, count, close, vlan, reply-vlan, client-mac, server-mac, reporter, mtu, ttl)"),
    };

    private void Validate(FlowDescription flow, Dictionary<string, YamlNode> values, YamlNode node)
    {
        var family = flow.Client.Address.Family;
        void SameFamily(string key, Address? address)
        {
            if (address is { } a && a.Family != family)
                throw Error(values[key], $"{key} {a} is {a.Family} but the client is {family}");
        }
        SameFamily("server", flow.Server.Address);
        SameFamily("snat", flow.Snat?.Address);
        SameFamily("dnat", flow.Dnat?.Address);
        SameFamily("reporter", flow.Reporter);
        bool ported = flow.Kind is not FlowKind.IcmpEcho;
        if (ported && flow.Server.Port is null)
            throw Error(values["server"], $"a {KindName(flow.Kind)} flow needs the server's port (address:port, [v6]:port)");
        if (!ported && (flow.Server.Port is not null || flow.Client.Port is not null))
            throw Error(values[flow.Server.Port is not null ? "server" : "client"], "an icmp-echo flow has no ports");
        if (flow.Kind == FlowKind.IcmpFragNeeded && flow.Reporter is null)
            throw Error(node, "an icmp-frag-needed flow needs 'reporter': the router that sends the error");
        if (flow.Kind != FlowKind.IcmpFragNeeded && (values.ContainsKey("reporter") || values.ContainsKey("mtu")))
            throw Error(values.GetValueOrDefault("reporter") ?? values["mtu"], "reporter and mtu belong to icmp-frag-needed flows");
        if (family == Family.IPv6 && flow.Mtu is > 0 and < 1280)
            throw Error(values["mtu"], "an IPv6 MTU is at least 1280");
        if (flow.HostAnswers && (flow.Snat is not null || flow.Dnat is not null))
            throw Error(values["reply-ingress"], "when the host answers itself there is no snat/dnat as the far side sees it");
        if (values.ContainsKey("close") && flow.Kind is not (FlowKind.Tcp or FlowKind.TcpSimultaneousOpen or FlowKind.TcpMidstream or FlowKind.TcpOutOfWindow or FlowKind.IcmpFragNeeded))
            throw Error(values["close"], $"close does not apply to a {KindName(flow.Kind)} flow");
        if (values.ContainsKey("count") && flow.Kind is not (FlowKind.Udp or FlowKind.IcmpEcho))
            throw Error(values["count"], $"count does not apply to a {KindName(flow.Kind)} flow");
        if (flow.Kind is FlowKind.Udp or FlowKind.IcmpPortUnreachable && flow.Request > 65507)
            throw Error(values["request"], "a UDP request is at most 65507 bytes");
        if (flow.Kind == FlowKind.IcmpEcho && flow.Request > 65507)
            throw Error(values["request"], "an echo payload is at most 65507 bytes");
        if (flow.Kind == FlowKind.IcmpFragNeeded && flow.Request >= 0 && flow.Request + 40 <= (flow.Mtu > 0 ? flow.Mtu : 1280))
            throw Error(values["request"], "the request must be larger than the reported MTU allows, or no router would complain");
    }

    private static string KindName(FlowKind kind) => Kinds.First(k => k.Value == kind).Key;

    private FlowEndpoint Endpoint(YamlNode node, string key)
    {
        string text = Scalar(node, key);
        string addressText = text;
        ushort? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
                throw Error(node, $"{key} '{text}' is not [IPv6]:port");
            addressText = text[1..close];
            port = Port(node, key, text[(close + 2)..]);
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':');
            addressText = text[..colon];
            port = Port(node, key, text[(colon + 1)..]);
        }
        if (!Address.TryParse(addressText, out var address))
            throw Error(node, $"{key} '{text}' is not an address (a.b.c.d[:port], IPv6 or [IPv6]:port)");
        return new FlowEndpoint(address, port);
    }

    private ushort Port(YamlNode node, string key, string text) =>
        ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port > 0
            ? port
            : throw Error(node, $"{key} port '{text}' is not a number from 1 to 65535");

    private Address AddressOf(YamlNode node, string key) =>
        Address.TryParse(Scalar(node, key), out var a) ? a : throw Error(node, $"{key} '{Scalar(node, key)}' is not an IP address");

    private MacAddress Mac(YamlNode node, string key) =>
        MacAddress.TryParse(Scalar(node, key), out var m) ? m : throw Error(node, $"{key} '{Scalar(node, key)}' is not a MAC address (aa:bb:cc:dd:ee:ff)");

    private ImmutableArray<ushort> Vlans(YamlNode node, string key)
    {
        IEnumerable<YamlNode> items = node is YamlSequenceNode seq ? seq.Children : [node];
        var list = items.Select(item => (ushort)Integer(item, key, 0, 4095)).ToImmutableArray();
        return list.Length is >= 1 and <= 2 ? list : throw Error(node, $"{key}: one or two VLAN ids (outermost first)");
    }

    /// <summary>Seconds since 1970 with up to nine decimals, kept exact to the nanosecond.</summary>
    private Timestamp Epoch(YamlNode node)
    {
        string text = Scalar(node, "epoch");
        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) || seconds > 4_000_000_000m)
            throw Error(node, $"epoch '{text}' is not a number of seconds from 0 to 4000000000");
        return new Timestamp((long)decimal.Round(seconds * 1_000_000_000m));
    }

    private double Number(YamlNode node, string key, double min, double max)
    {
        string text = Scalar(node, key);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || double.IsNaN(value))
            throw Error(node, $"{key} '{text}' is not a number");
        if (value < min || value > max)
            throw Error(node, string.Create(CultureInfo.InvariantCulture, $"{key} {text} is outside {min} to {max}"));
        return value;
    }

    private long Integer(YamlNode node, string key, long min, long max)
    {
        string text = Scalar(node, key);
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw Error(node, $"{key} '{text}' is not a whole number");
        if (value < min || value > max)
            throw Error(node, string.Create(CultureInfo.InvariantCulture, $"{key} {value} is outside {min} to {max}"));
        return value;
    }

    private string Scalar(YamlNode node, string key) => node is YamlScalarNode { Value: { } v }
        ? v
        : throw Error(node, $"{key} must be a single value");

    private YamlMappingNode Mapping(YamlNode node, string what) =>
        node as YamlMappingNode ?? throw Error(node, $"expected {what}");

    private IEnumerable<(string Key, YamlNode Value)> Entries(YamlMappingNode map)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            string key = Scalar(keyNode, "a key");
            if (!seen.Add(key)) throw Error(keyNode, $"key '{key}' appears twice");
            yield return (key, value);
        }
    }

    private FlowFormatException Error(YamlNode node, string detail) => new(path, node.Start.Line, node.Start.Column, detail);
}
