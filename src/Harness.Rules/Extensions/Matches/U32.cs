using System.Collections.Immutable;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>How a u32 location step combines with the value so far.</summary>
public enum U32Operator
{
    /// <summary>The first number: read 4 bytes at this offset.</summary>
    Start,
    And,
    LeftShift,
    RightShift,
    /// <summary>"@": move the base by the value so far, then read 4 bytes at this offset.</summary>
    At,
}

public readonly record struct U32Step(U32Operator Operator, uint Number);

/// <summary>One "location = ranges" test of -m u32.</summary>
public sealed record U32Test(ImmutableArray<U32Step> Location, ImmutableArray<UIntRange> Ranges)
{
    public bool Equals(U32Test? o) => o is not null && Location.SequenceEqual(o.Location) && Ranges.SequenceEqual(o.Ranges);

    public override int GetHashCode() => HashCode.Combine(Location.Length, Ranges.Length);

    public override string ToString()
    {
        var text = string.Concat(Location.Select(s => s.Operator switch
        {
            U32Operator.Start => "",
            U32Operator.And => "&",
            U32Operator.LeftShift => "<<",
            U32Operator.RightShift => ">>",
            _ => "@",
        } + Values.Hex(s.Number)));
        return text + "=" + string.Join(",", Ranges.Select(r => r.Min == r.Max ? Values.Hex(r.Min) : Values.Hex(r.Min) + ":" + Values.Hex(r.Max)));
    }
}

/// <summary>-m u32 --u32 TESTS: every test (joined by &amp;&amp;) must hold.</summary>
public sealed record U32Match(ImmutableArray<U32Test> Tests, bool Negated) : MatchExtension
{
    public override string Name => "u32";

    public bool Equals(U32Match? o) => o is not null && Negated == o.Negated && Tests.SequenceEqual(o.Tests);

    public override int GetHashCode() => HashCode.Combine(Tests.Length, Negated);

    protected override void SaveOptions(SaveWriter w) =>
        w.Option("--u32", "\"" + string.Join("&&", Tests) + "\"", Negated);
}

public sealed class U32MatchParser : MatchParser
{
    private const int MaxItems = 10;
    private U32Match? _match;

    protected override string ExtensionName => "u32";

    public U32MatchParser() => On("u32", (inv, a) => _match = new U32Match(Parse(a, a.Next("tests")), inv), invert: true);

    private static ImmutableArray<U32Test> Parse(OptionArguments a, string text)
    {
        var compact = string.Concat(text.Where(c => !char.IsWhiteSpace(c)));
        var tests = ImmutableArray.CreateBuilder<U32Test>();
        foreach (var part in compact.Split("&&"))
        {
            var eq = part.IndexOf('=');
            if (eq < 0) throw a.Error($"u32: missing \"=\" in test \"{part}\"");
            tests.Add(new U32Test(Location(a, part[..eq]), Ranges(a, part[(eq + 1)..])));
        }
        if (tests.Count > MaxItems) throw a.Error($"u32: too many \"&&\"s (at most {MaxItems} tests)");
        return tests.ToImmutable();
    }

    private static ImmutableArray<U32Step> Location(OptionArguments a, string text)
    {
        var steps = ImmutableArray.CreateBuilder<U32Step>();
        int i = 0;
        var op = U32Operator.Start;
        while (true)
        {
            int start = i;
            while (i < text.Length && char.IsAsciiLetterOrDigit(text[i])) i++;
            if (!Values.TryUInt(text[start..i], uint.MaxValue, out var n)) throw a.Error($"u32: bad number in location \"{text}\"");
            steps.Add(new U32Step(op, (uint)n));
            if (i == text.Length) break;
            (op, int length) = text[i..] switch
            {
                var r when r.StartsWith("<<", StringComparison.Ordinal) => (U32Operator.LeftShift, 2),
                var r when r.StartsWith(">>", StringComparison.Ordinal) => (U32Operator.RightShift, 2),
                var r when r[0] == '&' => (U32Operator.And, 1),
                var r when r[0] == '@' => (U32Operator.At, 1),
                _ => throw a.Error($"u32: unknown operator in location \"{text}\""),
            };
            i += length;
        }
        if (steps.Count > MaxItems) throw a.Error($"u32: too many operators in location \"{text}\"");
        return steps.ToImmutable();
    }

    private static ImmutableArray<UIntRange> Ranges(OptionArguments a, string text)
    {
        var ranges = ImmutableArray.CreateBuilder<UIntRange>();
        foreach (var part in text.Split(','))
        {
            var colon = part.IndexOf(':');
            var loText = colon < 0 ? part : part[..colon];
            var hiText = colon < 0 ? part : part[(colon + 1)..];
            if (!Values.TryUInt(loText, uint.MaxValue, out var lo) || !Values.TryUInt(hiText, uint.MaxValue, out var hi))
                throw a.Error($"u32: bad range \"{part}\"");
            ranges.Add(new UIntRange((uint)lo, (uint)hi));
        }
        if (ranges.Count > MaxItems) throw a.Error($"u32: too many ranges in \"{text}\"");
        return ranges.ToImmutable();
    }

    public override MatchExtension Finish(RuleContext context) =>
        _match ?? throw Error("u32: option \"--u32\" must be specified");
}
