using System.Collections.Immutable;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>How a counter of -m set is compared (--packets-eq/lt/gt, --bytes-eq/lt/gt).</summary>
public enum CounterComparison
{
    Equal,
    NotEqual,
    LessThan,
    GreaterThan,
}

/// <summary>A counter test of -m set.</summary>
public readonly record struct SetCounterTest(CounterComparison Comparison, ulong Value);

/// <summary>
/// -m set --match-set NAME src,dst…: is the packet (its fields named by <see cref="Directions"/>, true = src) in the
/// ipset <see cref="SetName"/>. Flags as in xt_set revision 4.
/// </summary>
public sealed record SetMatch(
    string SetName,
    ImmutableArray<bool> Directions,
    bool Negated,
    bool ReturnNoMatch,
    bool NoUpdateCounters,
    bool NoUpdateSubcounters,
    SetCounterTest? Packets,
    SetCounterTest? Bytes) : MatchExtension
{
    public override string Name => "set";

    public bool Equals(SetMatch? o) =>
        o is not null && SetName == o.SetName && Directions.SequenceEqual(o.Directions) && Negated == o.Negated &&
        ReturnNoMatch == o.ReturnNoMatch && NoUpdateCounters == o.NoUpdateCounters &&
        NoUpdateSubcounters == o.NoUpdateSubcounters && Packets == o.Packets && Bytes == o.Bytes;

    public override int GetHashCode() => HashCode.Combine(SetName, Negated, Directions.Length);

    internal static string PrintDirections(ImmutableArray<bool> directions) =>
        string.Join(",", directions.Select(d => d ? "src" : "dst"));

    internal static ImmutableArray<bool> ParseDirections(OptionArguments a, string ext)
    {
        var text = a.Next("src|dst[,…]");
        var parts = text.Split(',');
        if (parts.Length > 6) throw a.Error($"{ext}: Can't be more src/dst options than 6.");
        return [.. parts.Select(p => p switch
        {
            "src" => true,
            "dst" => false,
            _ => throw a.Error($"{ext}: You must specify (the comma separated list of) 'src' or 'dst'."),
        })];
    }

    protected override void SaveOptions(SaveWriter w)
    {
        w.Option("--match-set", SetName, Negated).Word(PrintDirections(Directions));
        if (ReturnNoMatch) w.Word("--return-nomatch");
        if (NoUpdateCounters) w.Option("--update-counters", null, negated: true);
        if (NoUpdateSubcounters) w.Option("--update-subcounters", null, negated: true);
        WriteCounter(w, "packets", Packets);
        WriteCounter(w, "bytes", Bytes);
    }

    private static void WriteCounter(SaveWriter w, string what, SetCounterTest? test)
    {
        if (test is not { } t) return;
        var (suffix, negated) = t.Comparison switch
        {
            CounterComparison.Equal => ("eq", false),
            CounterComparison.NotEqual => ("eq", true),
            CounterComparison.LessThan => ("lt", false),
            _ => ("gt", false),
        };
        w.Option($"--{what}-{suffix}", Values.Dec(t.Value), negated);
    }
}

public sealed class SetMatchParser : MatchParser
{
    private string? _name;
    private ImmutableArray<bool> _dirs;
    private bool _negated, _returnNoMatch, _noCounters, _noSubcounters;
    private SetCounterTest? _packets, _bytes;

    protected override string ExtensionName => "set";

    public SetMatchParser()
    {
        On("match-set", (inv, a) =>
        {
            if (_name is not null) throw a.Error("set: --match-set can be specified only once");
            var name = a.Next("set name");
            if (name.Length > 31) throw a.Error($"set: setname `{name}' too long, max 31 characters.");
            _name = name;
            _negated = inv;
            _dirs = SetMatch.ParseDirections(a, "set");
        }, invert: true, aliases: "set");
        Flag("return-nomatch", _ => _returnNoMatch = true);
        Flag("update-counters", inv => _noCounters = inv, invert: true);
        Flag("update-subcounters", inv => _noSubcounters = inv, invert: true);
        On("packets-eq", (inv, a) => _packets = new(inv ? CounterComparison.NotEqual : CounterComparison.Equal, Values.UInt(a, "set", ulong.MaxValue)), invert: true);
        On("packets-lt", (_, a) => _packets = new(CounterComparison.LessThan, Values.UInt(a, "set", ulong.MaxValue)));
        On("packets-gt", (_, a) => _packets = new(CounterComparison.GreaterThan, Values.UInt(a, "set", ulong.MaxValue)));
        On("bytes-eq", (inv, a) => _bytes = new(inv ? CounterComparison.NotEqual : CounterComparison.Equal, Values.UInt(a, "set", ulong.MaxValue)), invert: true);
        On("bytes-lt", (_, a) => _bytes = new(CounterComparison.LessThan, Values.UInt(a, "set", ulong.MaxValue)));
        On("bytes-gt", (_, a) => _bytes = new(CounterComparison.GreaterThan, Values.UInt(a, "set", ulong.MaxValue)));
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_name is null) throw Error("set: You must specify `--match-set' with proper arguments");
        return new SetMatch(_name, _dirs, _negated, _returnNoMatch, _noCounters, _noSubcounters, _packets, _bytes);
    }
}
