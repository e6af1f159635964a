using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m comment --comment TEXT: matches every packet.</summary>
public sealed record CommentMatch(string Text) : MatchExtension
{
    public override string Name => "comment";

    protected override void SaveOptions(SaveWriter w) => w.Word("--comment").Word(Values.SaveString(Text));
}

public sealed class CommentMatchParser : MatchParser
{
    private string? _text;

    protected override string ExtensionName => "comment";

    public CommentMatchParser() => On("comment", (_, a) => _text = a.Next("comment"));

    public override MatchExtension Finish(RuleContext context) =>
        new CommentMatch(_text ?? throw Error("comment: option \"--comment\" must be specified"));
}
