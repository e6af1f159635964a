using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Harness.Engine;
using Harness.Engine.Conntrack;
using Harness.Packets;

namespace Harness.Bench;

/// <summary>
/// `replay-bench [packets] --digest`: a SHA-256 of every outcome field (packet bytes included) and of the final
/// conntrack table, for (a) and (b) with and without byte rebuilding, so a speed-up can be shown to change no outcome.
/// </summary>
public static class OutcomeDigest
{
    public static int Run(string path, Harness.Hosts.Host host, int packets)
    {
        var inMemory = CaptureReader.Read(path).Take(packets).ToList();
        var inputBefore = InputDigest(inMemory);
        foreach (var (name, text) in new[] { ("(a) firewall", BenchCases.FirewallText()), ("(b) kube-proxy", BenchCases.KubeProxyText()) })
        {
            var rules = BenchCases.Load(text, name);
            foreach (var options in new[] { EngineOptions.Default, new EngineOptions(RebuildBytes: false) })
            {
                var engine = Harness.Engine.Engine.Create(rules, null, host, options);
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var sb = new StringBuilder();
                long count = 0;
                foreach (var packet in inMemory)
                    foreach (var o in engine.Process(packet))
                    {
                        sb.Clear();
                        sb.Append(CultureInfo.InvariantCulture, $"{o.PacketNumber}|{o.Generated}|{o.Time}|{o.InInterface}|{o.OutInterface}|{o.Verdict}|{o.Disposition}|{o.DecidingRule}|{o.DecidingRuleSource}|{o.Reason}|{o.DroppedAt}|{o.Mark}|");
                        Ip(sb, o.Packet.Ip).Append('|').Append(o.Packet.Transport).Append('|').Append(o.Packet.PayloadLength).Append('|');
                        sb.Append(Convert.ToHexString(o.Packet.Raw.Span)).Append('|');
                        sb.AppendJoin(",", o.Path).Append('|').Append(o.Conntrack).Append('|');
                        if (o.Conntrack is { } c) sb.Append(c.Original).Append('/').Append(c.Reply).Append('|');
                        sb.AppendJoin("\n", o.Log).Append('\n');
                        sha.AppendData(Encoding.UTF8.GetBytes(sb.ToString()));
                        count++;
                    }
                var end = inMemory[^1].Time;
                sha.AppendData(Encoding.UTF8.GetBytes(ConntrackListFormatter.Format(engine.Conntrack, end)));
                Console.WriteLine($"{name} rebuild={options.RebuildBytes}: {count:N0} outcomes, digest {Convert.ToHexString(sha.GetHashAndReset())[..32]}");
            }
        }
        // The engine may patch its own copies of packet bytes in place, never the caller's packets.
        bool unchanged = InputDigest(inMemory) == inputBefore;
        Console.WriteLine(unchanged ? "input packets unchanged" : "INPUT PACKETS CHANGED");
        return unchanged ? 0 : 1;
    }

    /// <summary>The IP header's fields by name (not the record's text, which grows with every property added).</summary>
    private static StringBuilder Ip(StringBuilder sb, IpHeader? ip) => ip is null ? sb : sb.Append(CultureInfo.InvariantCulture,
        $"{ip.Family} {ip.Source} {ip.Destination} {ip.Protocol} {ip.Ttl} {ip.Tos} {ip.TotalLength} {ip.HeaderLength} {ip.Id} {ip.DontFragment} {ip.MoreFragments} {ip.ReservedFlag} {ip.FragmentOffset} {ip.FlowLabel} {ip.HeaderChecksumValid} {Convert.ToHexString(ip.Options.Span)} {string.Join(",", ip.ExtensionHeaders)}");

    private static string InputDigest(List<Packet> packets)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in packets) sha.AppendData(p.Raw.Span);
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}
