using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// -m string (xt_string): the pattern anywhere in the packet's bytes from the IP header on, between --from and --to
/// (offsets from the IP header, as skb_find_text sees them); bm and kmp find the same occurrences. --icase folds ASCII.
/// </summary>
public sealed class StringEvaluator(StringMatch m) : MatchEvaluator
{
    private readonly byte[] _pattern = [.. m.Pattern];

    public static MatchEvaluator Create(StringMatch m, CompileContext c) => new StringEvaluator(m);

    public override bool Matches(PacketState state)
    {
        var raw = state.Packet.Raw.Span;
        if (raw.IsEmpty && state.Dirty) raw = Harness.Packets.PacketBuilder.Serialize(state.Packet);
        int from = Math.Min((int)m.From, raw.Length);
        int to = Math.Min((int)m.To + 1, raw.Length);
        var window = to > from ? raw[from..to] : [];
        bool found = m.IgnoreCase ? IndexOfIgnoreCase(window, _pattern) >= 0 : window.IndexOf(_pattern) >= 0;
        return found ^ m.Negated;
    }

    private static int IndexOfIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> pattern)
    {
        for (int i = 0; i + pattern.Length <= text.Length; i++)
        {
            int j = 0;
            while (j < pattern.Length && Fold(text[i + j]) == Fold(pattern[j])) j++;
            if (j == pattern.Length) return i;
        }
        return -1;
    }

    private static byte Fold(byte b) => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b;
}
