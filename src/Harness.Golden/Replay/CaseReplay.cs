using System.Collections.Immutable;
using System.Globalization;
using Harness.Engine;
using Harness.Golden.Cases;
using Harness.Golden.Check;
using Harness.Golden.Csv;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Harness.Rules;
using Harness.Rules.Loading;

namespace Harness.Golden.Replay;

/// <summary>Everything a case needs before its first packet: the rulesets, the host and the engine options.</summary>
public sealed record CaseInputs(Ruleset? Ipv4, Ruleset? Ipv6, Host Host, EngineOptions Options);

/// <summary>
/// Runs a case through the engine. Every refusal of an input (ruleset diagnostics, host format, ipsets, a capture
/// that is not a capture, a rule the engine cannot evaluate) becomes a one-line <see cref="CaseInputException"/> or
/// <see cref="InputFormatException"/>, so <see cref="CheckRunner"/> reports it as bad input.
/// </summary>
public static class CaseReplay
{
    /// <summary>The replayer <c>harness check</c> uses by default.</summary>
    public static CaseReplayer Engine { get; } = m => OutcomeProjection.ProjectLazily(Stream(m));

    /// <summary>Loads the case's rulesets, host and options.</summary>
    public static CaseInputs LoadInputs(CaseManifest m)
    {
        var ipv4 = m.Rules.IsEmpty ? null : LoadRules(m.Rules, Family.IPv4);
        var ipv6 = m.Rules6.IsEmpty ? null : LoadRules(m.Rules6, Family.IPv6);
        var host = HostLoader.Load(m.Host);
        if (m.DefaultInterface is { } iface && host.FindInterface(iface) is null)
            throw new CaseInputException($"{m.ManifestPath}: error: default interface '{iface}' is not one of the host's interfaces ({string.Join(", ", host.Interfaces.Select(i => i.Name))})");
        IpSets? sets = null;
        if (m.IpSets is { } setFile)
        {
            try
            {
                sets = IpSets.Parse(File.ReadAllText(setFile), setFile);
            }
            catch (FormatException e)
            {
                throw new CaseInputException(e.Message.Contains(setFile, StringComparison.Ordinal) ? e.Message : $"{setFile}: error: {e.Message}", e);
            }
        }
        return new CaseInputs(ipv4, ipv6, host, new EngineOptions(Seed: m.Seed, DefaultInterface: m.DefaultInterface, Sets: sets, Backend: m.Backend));
    }

    /// <summary>Loads rule files in order; any diagnostic makes the case bad input, named by its first error.</summary>
    public static Ruleset LoadRules(IEnumerable<string> paths, Family family)
    {
        var result = RulesetLoader.LoadFiles(paths, family);
        if (result.Success) return result.Ruleset;
        var first = result.Diagnostics[0].ToString();
        var more = result.Diagnostics.Length - 1;
        throw new CaseInputException(more == 0 ? first : string.Create(CultureInfo.InvariantCulture, $"{first} (and {more} more errors; run 'harness lint' to see them all)"));
    }

    /// <summary>The case's packets: read from its capture, or generated from its flow description with its seed.</summary>
    public static IEnumerable<Packet> Traffic(CaseManifest m, Host host)
    {
        if (m.Pcap is { } pcap)
        {
            var names = host.Interfaces.GroupBy(i => i.Index).ToDictionary(g => g.Key, g => g.First().Name);
            return CaptureReader.Read(pcap, new CaptureOptions(m.DefaultInterface, names));
        }
        return FlowTraffic.Generate(m.Flows!, m.Seed);
    }

    /// <summary>Creates the engine for the case's inputs (a rule it cannot evaluate is bad input, naming the rule).</summary>
    public static Engine.Engine CreateEngine(CaseInputs inputs)
    {
        try
        {
            return Harness.Engine.Engine.Create(inputs.Ipv4, inputs.Ipv6, inputs.Host, inputs.Options);
        }
        catch (EngineSetupException e)
        {
            throw new CaseInputException(e.Message, e);
        }
    }

    /// <summary>Replays the whole case; <paramref name="onPacket"/> is told the number of each input packet as it is done.</summary>
    public static ImmutableArray<Outcome> Run(CaseManifest m, Action<long>? onPacket = null) => [.. Stream(m, onPacket)];

    /// <summary>
    /// <see cref="Run"/> one outcome at a time, as the packets are read: a caller that keeps only what it needs of each
    /// outcome (a golden row) does not hold the whole replay in memory. The inputs load at the first step.
    /// </summary>
    public static IEnumerable<Outcome> Stream(CaseManifest m, Action<long>? onPacket = null)
    {
        var inputs = LoadInputs(m);
        var engine = CreateEngine(inputs);
        return Replay(engine, Normalize(Traffic(m, inputs.Host), inputs.Host), onPacket);
    }

    /// <summary>
    /// A packet the capture shows leaving the host with one of the host's own addresses as its source was made by
    /// this host: it is handed to the engine without interface or direction, so it takes the OUTPUT path (and
    /// conntrack sees it), as the kernel's own replies do. Outbound packets with a foreign source stay observed egress.
    /// </summary>
    public static IEnumerable<Packet> Normalize(IEnumerable<Packet> packets, Host host)
    {
        var local = host.AllAddresses.Select(a => a.Address).ToHashSet();
        foreach (var p in packets)
        {
            yield return p.Direction == PacketDirection.Outbound && p.Ip is { } ip && local.Contains(ip.Source)
                ? p with { Direction = PacketDirection.Unknown, Interface = null }
                : p;
        }
    }

    /// <summary>Feeds packets through an engine, turning a damaged capture into bad input; lazily, packet by packet.</summary>
    public static IEnumerable<Outcome> Replay(Engine.Engine engine, IEnumerable<Packet> packets, Action<long>? onPacket = null)
    {
        using var reading = packets.GetEnumerator();
        while (Next(reading))
        {
            var p = reading.Current;
            var outcomes = engine.Process(p);
            for (int i = 0; i < outcomes.Count; i++) yield return outcomes[i];
            onPacket?.Invoke(p.Number);
        }
    }

    private static bool Next(IEnumerator<Packet> reading)
    {
        try
        {
            return reading.MoveNext();
        }
        catch (CaptureFormatException e)
        {
            throw new CaseInputException(e.Path + ": error: " + (e.Offset >= 0 ? string.Create(CultureInfo.InvariantCulture, $"byte offset {e.Offset}: ") : "") + e.Detail, e);
        }
    }

    /// <summary>The packets that left the host (forwarded or sent), as an egress capture would show them.</summary>
    public static void WriteEgress(string path, IEnumerable<Outcome> outcomes)
    {
        var leaving = outcomes.Where(o => o.Disposition is Disposition.Forwarded or Disposition.Sent && o.OutInterface is not null);
        using var stream = File.Create(path);
        using var writer = new PcapngWriter(stream);
        foreach (var o in leaving) writer.Write(o.Packet, o.OutInterface!);
    }
}
