using System.Text;

namespace Harness.Rules.Parsing;

/// <summary>
/// Splits one logical line into words the way a POSIX shell does (no expansions): blanks separate words,
/// 'single quotes' keep everything literally, "double quotes" honour backslash before $ ` " \ and newline,
/// a backslash outside quotes keeps the next character literally (backslash-newline disappears),
/// and an unquoted '#' at the start of a word starts a comment that runs to the end of the line.
/// Columns are 1-based and point at the first character of each word (an opening quote included).
/// </summary>
public static class ShellWords
{
    public static IReadOnlyList<Token> Split(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = new List<Token>();
        var reader = new WordReader(line);
        while (reader.SkipBlanks())
        {
            if (reader.Current == '#') break;
            words.Add(reader.ReadWord());
        }
        return words;
    }

    /// <summary>
    /// Splits one rule line of an iptables-save dump the way iptables-restore 1.8.9 does (xshared's
    /// add_param_to_argv): blanks separate words; a '"' opens a quoted part (even in the middle of a word) in which
    /// a backslash makes any next character literal; the closing '"' ends the word; outside quotes a backslash
    /// and a single quote are ordinary characters and '#' is not special. Unlike iptables (which then keeps the
    /// newline in the value), an unterminated quote is an error.
    /// </summary>
    public static IReadOnlyList<Token> SplitRestore(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = new List<Token>();
        var text = new StringBuilder();
        int start = -1;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '"')
            {
                if (start < 0) start = i;
                int close = ReadRestoreQuoted(line, i, text);
                words.Add(new Token(text.ToString(), start + 1, true));
                text.Clear();
                start = -1;
                i = close;
            }
            else if (c is ' ' or '\t' or '\n' or '\r')
            {
                if (start >= 0) words.Add(new Token(text.ToString(), start + 1));
                text.Clear();
                start = -1;
            }
            else
            {
                if (start < 0) start = i;
                text.Append(c);
            }
        }
        if (start >= 0) words.Add(new Token(text.ToString(), start + 1));
        return words;
    }

    /// <summary>Appends the quoted part opening at <paramref name="open"/>; returns the index of the closing quote.</summary>
    private static int ReadRestoreQuoted(string line, int open, StringBuilder text)
    {
        for (int i = open + 1; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '\\' && i + 1 < line.Length) { text.Append(line[i + 1]); i++; }
            else if (c == '"') return i;
            else text.Append(c);
        }
        throw new RuleSyntaxException("unterminated double quote (\")", open + 1);
    }

    private sealed class WordReader(string line)
    {
        private int _pos;

        public char Current => line[_pos];

        /// <summary>Skips blanks (and backslash-newline pairs); false at the end of the line.</summary>
        public bool SkipBlanks()
        {
            while (_pos < line.Length)
            {
                if (IsBlank(line[_pos])) _pos++;
                else if (IsLineContinuation(_pos)) _pos += ContinuationLength(_pos);
                else return true;
            }
            return false;
        }

        public Token ReadWord()
        {
            int start = _pos;
            var text = new StringBuilder();
            bool quoted = false;
            while (_pos < line.Length && !IsBlank(line[_pos]))
            {
                char c = line[_pos];
                if (c == '\'') { ReadSingleQuoted(text); quoted = true; }
                else if (c == '"') { ReadDoubleQuoted(text); quoted = true; }
                else if (c == '\\') ReadEscape(text);
                else { text.Append(c); _pos++; }
            }
            return new Token(text.ToString(), start + 1, quoted);
        }

        private void ReadSingleQuoted(StringBuilder text)
        {
            int open = _pos;
            int close = line.IndexOf('\'', open + 1);
            if (close < 0) throw Unterminated('\'', open);
            text.Append(line, open + 1, close - open - 1);
            _pos = close + 1;
        }

        private void ReadDoubleQuoted(StringBuilder text)
        {
            int open = _pos;
            _pos++;
            while (_pos < line.Length)
            {
                char c = line[_pos];
                if (c == '"') { _pos++; return; }
                if (c == '\\' && _pos + 1 < line.Length)
                {
                    if (IsLineContinuation(_pos)) { _pos += ContinuationLength(_pos); continue; }
                    char next = line[_pos + 1];
                    if (next is '$' or '`' or '"' or '\\') { text.Append(next); _pos += 2; continue; }
                }
                text.Append(c);
                _pos++;
            }
            throw Unterminated('"', open);
        }

        private void ReadEscape(StringBuilder text)
        {
            if (IsLineContinuation(_pos)) { _pos += ContinuationLength(_pos); return; }
            if (_pos + 1 < line.Length) { text.Append(line[_pos + 1]); _pos += 2; return; }
            _pos++; // a lone backslash at the very end: the shell would continue the line; the caller joined lines already
        }

        private bool IsLineContinuation(int at) =>
            line[at] == '\\' && at + 1 < line.Length &&
            (line[at + 1] == '\n' || (line[at + 1] == '\r' && at + 2 < line.Length && line[at + 2] == '\n'));

        private int ContinuationLength(int at) => line[at + 1] == '\r' ? 3 : 2;

        private static bool IsBlank(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

        private static RuleSyntaxException Unterminated(char quote, int openIndex) =>
            new(quote == '\'' ? "unterminated single quote (')" : "unterminated double quote (\")", openIndex + 1);
    }
}
