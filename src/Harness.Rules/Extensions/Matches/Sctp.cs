using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>How --chunk-types compares the packet's chunks with the list.</summary>
public enum SctpChunkMatch
{
    Any,
    All,
    Only,
}

/// <summary>One chunk type of --chunk-types, with flags that must be set (Flags) among those tested (FlagMask).</summary>
public readonly record struct SctpChunk(byte Type, byte Flags, byte FlagMask);

/// <summary>-m sctp: ports and chunk types. Null: not tested.</summary>
public sealed record SctpMatch(
    Negatable<PortRange>? SourcePorts,
    Negatable<PortRange>? DestinationPorts,
    Negatable<(SctpChunkMatch Mode, ImmutableArray<SctpChunk> Chunks)>? ChunkTypes) : MatchExtension
{
    public override string Name => "sctp";

    internal static readonly (string Name, byte Type, string Flags)[] ChunkNames =
    [
        ("DATA", 0, "----IUBE"), ("INIT", 1, ""), ("INIT_ACK", 2, ""), ("SACK", 3, ""), ("HEARTBEAT", 4, ""),
        ("HEARTBEAT_ACK", 5, ""), ("ABORT", 6, "-------T"), ("SHUTDOWN", 7, ""), ("SHUTDOWN_ACK", 8, ""),
        ("ERROR", 9, ""), ("COOKIE_ECHO", 10, ""), ("COOKIE_ACK", 11, ""), ("ECN_ECNE", 12, ""), ("ECN_CWR", 13, ""),
        ("SHUTDOWN_COMPLETE", 14, "-------T"), ("I_DATA", 64, "----IUBE"), ("ASCONF", 193, ""), ("ASCONF_ACK", 128, ""),
        ("FORWARD_TSN", 192, ""), ("RE_CONFIG", 130, ""), ("PAD", 132, ""), ("I_FORWARD_TSN", 194, ""),
    ];

    public bool Equals(SctpMatch? o) =>
        o is not null && SourcePorts == o.SourcePorts && DestinationPorts == o.DestinationPorts &&
        (ChunkTypes is null) == (o.ChunkTypes is null) &&
        (ChunkTypes is null || (ChunkTypes.Value.Negated == o.ChunkTypes!.Value.Negated &&
            ChunkTypes.Value.Value.Mode == o.ChunkTypes.Value.Value.Mode &&
            ChunkTypes.Value.Value.Chunks.SequenceEqual(o.ChunkTypes.Value.Value.Chunks)));

    public override int GetHashCode() => HashCode.Combine(SourcePorts, DestinationPorts);

    private static string PrintChunk(SctpChunk c)
    {
        var entry = ChunkNames.First(n => n.Type == c.Type);
        if (c.FlagMask == 0 || entry.Flags.Length == 0) return entry.Name;
        var flags = "";
        for (int i = 7; i >= 0; i--)
            if ((c.FlagMask & (1 << i)) != 0)
            {
                var letter = entry.Flags[7 - i];
                flags += (c.Flags & (1 << i)) != 0 ? letter : char.ToLowerInvariant(letter);
            }
        return entry.Name + ":" + flags;
    }

    protected override void SaveOptions(SaveWriter w)
    {
        Printing.Negatable(w, "--sport", SourcePorts, r => Printing.Range(r));
        Printing.Negatable(w, "--dport", DestinationPorts, r => Printing.Range(r));
        if (ChunkTypes is { } ct)
        {
            w.Option("--chunk-types", ct.Value.Mode.ToString().ToLowerInvariant(), ct.Negated);
            w.Word(ct.Value.Chunks.IsEmpty ? "NONE" : string.Join(",", ct.Value.Chunks.OrderBy(c => c.Type).Select(PrintChunk)));
        }
    }
}

public sealed class SctpMatchParser : MatchParser
{
    private Negatable<PortRange>? _sport, _dport;
    private Negatable<(SctpChunkMatch, ImmutableArray<SctpChunk>)>? _chunks;

    protected override string ExtensionName => "sctp";

    public SctpMatchParser()
    {
        On("source-port", (inv, a) => _sport = new(Values.PortRange(a, a.Next("port"), null), inv), invert: true, aliases: "sport");
        On("destination-port", (inv, a) => _dport = new(Values.PortRange(a, a.Next("port"), null), inv), invert: true, aliases: "dport");
        On("chunk-types", (inv, a) => _chunks = new(Chunks(a), inv), invert: true);
    }

    private static (SctpChunkMatch, ImmutableArray<SctpChunk>) Chunks(OptionArguments a)
    {
        var modeText = a.Next("any|all|only");
        var mode = modeText.ToLowerInvariant() switch
        {
            "any" => SctpChunkMatch.Any,
            "all" => SctpChunkMatch.All,
            "only" => SctpChunkMatch.Only,
            _ => throw a.Error($"sctp: Match type \"{modeText}\" not recognized"),
        };
        var list = a.Next("chunk list");
        var chunks = ImmutableArray.CreateBuilder<SctpChunk>();
        if (list.Equals("NONE", StringComparison.OrdinalIgnoreCase)) return (mode, chunks.ToImmutable());
        foreach (var item in list.Split(','))
        {
            var colon = item.IndexOf(':');
            var name = colon < 0 ? item : item[..colon];
            var entry = SctpMatch.ChunkNames.FirstOrDefault(n => n.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (entry.Name is null) throw a.Error($"sctp: Unknown sctp chunk `{name}'");
            byte flags = 0, mask = 0;
            if (colon >= 0)
            {
                foreach (var f in item[(colon + 1)..])
                {
                    int pos = entry.Flags.IndexOf(char.ToUpperInvariant(f));
                    if (pos < 0 || f == '-') throw a.Error($"sctp: Invalid flags for chunk type {entry.Name}");
                    byte bit = (byte)(1 << (7 - pos));
                    mask |= bit;
                    if (char.IsUpper(f)) flags |= bit;
                }
            }
            chunks.Add(new SctpChunk(entry.Type, flags, mask));
        }
        return (mode, chunks.ToImmutable());
    }

    public override MatchExtension Finish(RuleContext context)
    {
        ProtocolCheck.Require(context, "sctp match: only valid for protocol 132 (-p sctp)", IpProtocol.Sctp);
        return new SctpMatch(_sport, _dport, _chunks);
    }
}
