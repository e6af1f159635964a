using System.Text;

namespace Harness.Rules;

/// <summary>Writes the canonical iptables-save text of a rule, one token at a time, with single spaces.</summary>
public sealed class SaveWriter
{
    private readonly StringBuilder _text = new();

    /// <summary>Appends " ! --name value" (or without "!" / value as given).</summary>
    public SaveWriter Option(string name, string? value = null, bool negated = false)
    {
        if (negated) Word("!");
        Word(name);
        if (value is not null) Word(value);
        return this;
    }

    /// <summary>Appends a word preceded by a space (no space at the very start).</summary>
    public SaveWriter Word(string word)
    {
        if (_text.Length > 0) _text.Append(' ');
        _text.Append(word);
        return this;
    }

    /// <summary>Appends a string argument quoted the way iptables-save quotes it (double quotes when it has spaces or is empty).</summary>
    public SaveWriter Quoted(string value) => Word(QuoteIfNeeded(value));

    public static string QuoteIfNeeded(string value)
    {
        bool needs = value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '\\');
        if (!needs) return value;
        var sb = new StringBuilder("\"");
        foreach (var c in value)
        {
            if (c is '"' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    public override string ToString() => _text.ToString();
}
