using System.Collections.Immutable;
using System.Text;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m string: the pattern's bytes appear in the packet between offsets From and To (algorithm bm or kmp).</summary>
public sealed record StringMatch(
    ImmutableArray<byte> Pattern,
    bool Negated,
    string Algorithm,
    ushort From,
    ushort To,
    bool IgnoreCase) : MatchExtension
{
    public override string Name => "string";

    public bool Equals(StringMatch? o) =>
        o is not null && Pattern.SequenceEqual(o.Pattern) && Negated == o.Negated && Algorithm == o.Algorithm &&
        From == o.From && To == o.To && IgnoreCase == o.IgnoreCase;

    public override int GetHashCode() => HashCode.Combine(Pattern.Length, Negated, Algorithm, From, To);

    private bool IsPrintable => Pattern.All(b => b >= 0x20 && b < 0x7f);

    protected override void SaveOptions(SaveWriter w)
    {
        if (IsPrintable)
        {
            var sb = new StringBuilder("\"");
            foreach (var b in Pattern)
            {
                if (b is (byte)'"' or (byte)'\\') sb.Append('\\');
                sb.Append((char)b);
            }
            w.Option("--string", sb.Append('"').ToString(), Negated);
        }
        else
        {
            var sb = new StringBuilder("\"|");
            foreach (var b in Pattern) sb.Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            w.Option("--hex-string", sb.Append("|\"").ToString(), Negated);
        }
        w.Word("--algo").Word(Algorithm);
        if (From != 0) w.Word("--from").Word(Values.Dec(From));
        if (To != ushort.MaxValue) w.Word("--to").Word(Values.Dec(To));
        if (IgnoreCase) w.Word("--icase");
    }
}

public sealed class StringMatchParser : MatchParser
{
    private ImmutableArray<byte>? _pattern;
    private bool _negated, _icase;
    private string? _algo;
    private ushort _from, _to = ushort.MaxValue;

    protected override string ExtensionName => "string";

    public StringMatchParser()
    {
        On("string", (inv, a) => SetPattern(a, [.. Encoding.UTF8.GetBytes(a.Next("string"))], inv), invert: true);
        On("hex-string", (inv, a) => SetPattern(a, ParseHex(a, a.Next("hex string")), inv), invert: true);
        On("algo", (_, a) =>
        {
            var t = a.Next("bm|kmp");
            _algo = t is "bm" or "kmp" ? t : throw a.Error($"string: unknown algorithm \"{t}\"");
        });
        On("from", (_, a) => _from = (ushort)Values.UInt(a, "string", ushort.MaxValue));
        On("to", (_, a) => _to = (ushort)Values.UInt(a, "string", ushort.MaxValue));
        Flag("icase", _ => _icase = true);
    }

    private void SetPattern(OptionArguments a, ImmutableArray<byte> pattern, bool negated)
    {
        if (_pattern is not null) throw a.Error("string: Can't specify multiple strings");
        if (pattern.Length == 0) throw a.Error("string: STRING must not be empty");
        if (pattern.Length > 128) throw a.Error("string: STRING too long");
        _pattern = pattern;
        _negated = negated;
    }

    /// <summary>"|41 42|C": hex bytes between pipes, literal characters outside, "\x" escapes x.</summary>
    private static ImmutableArray<byte> ParseHex(OptionArguments a, string text)
    {
        var bytes = ImmutableArray.CreateBuilder<byte>();
        bool hex = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '|') { hex = !hex; continue; }
            if (hex)
            {
                if (c == ' ') continue;
                if (i + 1 >= text.Length || !char.IsAsciiHexDigit(c) || !char.IsAsciiHexDigit(text[i + 1]))
                    throw a.Error("string: Invalid hex char");
                bytes.Add(Convert.ToByte(text.Substring(i, 2), 16));
                i++;
                continue;
            }
            if (c == '\\' && i + 1 < text.Length) { c = text[++i]; }
            if (c > 0x7f) throw a.Error("string: only ASCII outside |hex| parts");
            bytes.Add((byte)c);
        }
        if (hex) throw a.Error("string: Invalid hex block");
        return bytes.ToImmutable();
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_pattern is null) throw Error("string: STRING match requires --string or --hex-string");
        if (_algo is null) throw Error("string: option \"--algo\" must be specified");
        if (_from > _to) throw Error("string: --from must not exceed --to");
        return new StringMatch(_pattern.Value, _negated, _algo, _from, _to, _icase);
    }
}
