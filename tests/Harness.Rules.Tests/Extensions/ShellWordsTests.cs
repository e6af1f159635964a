using Harness.Rules;
using Harness.Rules.Parsing;

namespace Harness.Rules.Tests.Extensions;

public class ShellWordsTests
{
    private static string Show(IReadOnlyList<Token> words) =>
        string.Join("|", words.Select(w => $"{w.Text}@{w.Column}{(w.WasQuoted ? "q" : "")}"));

    [Theory]
    [InlineData("iptables -A INPUT", "iptables@1|-A@10|INPUT@13")]
    [InlineData("  a\tb  ", "a@3|b@5")]
    [InlineData("--comment 'a b' x", "--comment@1|a b@11q|x@17")]
    [InlineData("--comment \"a \\\"b\\\\ \\x\"", "--comment@1|a \"b\\ \\x@11q")]
    [InlineData("a\\ b c", "a b@1|c@6")]
    [InlineData("pre'fix'\"ed\" z", "prefixed@1q|z@14")]
    [InlineData("''", "@1q")]
    [InlineData("-j ACCEPT # allow all", "-j@1|ACCEPT@4")]
    [InlineData("a#b", "a#b@1")]
    [InlineData("a \\\nb", "a@1|b@5")]
    [InlineData("", "")]
    public void Split_follows_posix_shell_words(string line, string expected) =>
        Assert.Equal(expected, Show(ShellWords.Split(line)));

    [Theory]
    [InlineData("-A INPUT --comment 'oops", 20)]
    [InlineData("-A \"x", 4)]
    public void Split_rejects_unterminated_quotes_with_column(string line, int column)
    {
        var e = Assert.Throws<RuleSyntaxException>(() => ShellWords.Split(line));
        Assert.Equal(column, e.Column);
        Assert.Contains("unterminated", e.Message);
    }

    [Theory]
    [InlineData("-A INPUT -m comment --comment 'ab'", "-A@1|INPUT@4|-m@10|comment@13|--comment@21|'ab'@31")]
    [InlineData("--comment \"a\\'b\"", "--comment@1|a'b@11q")]
    [InlineData("--comment \"a\\\"b\\\\c\"", "--comment@1|a\"b\\c@11q")]
    [InlineData("--comment a\\b", "--comment@1|a\\b@11")]
    [InlineData("--comment \"\" -j X", "--comment@1|@11q|-j@14|X@17")]
    [InlineData("--comment a\"b c\"d", "--comment@1|ab c@11q|d@17")]
    [InlineData("-s 1.2.3.4 # x", "-s@1|1.2.3.4@4|#@12|x@14")]
    public void SplitRestore_follows_iptables_restore(string line, string expected) =>
        Assert.Equal(expected, Show(ShellWords.SplitRestore(line)));

    [Fact]
    public void SplitRestore_rejects_unterminated_quote()
    {
        var e = Assert.Throws<RuleSyntaxException>(() => ShellWords.SplitRestore("-A X --comment \"abc"));
        Assert.Equal(16, e.Column);
    }
}
