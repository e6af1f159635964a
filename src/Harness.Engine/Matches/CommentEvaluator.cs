using Harness.Engine.Walk;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m comment: a note for humans; matches every packet.</summary>
public sealed class CommentEvaluator : MatchEvaluator
{
    public static readonly CommentEvaluator Instance = new();

    public static MatchEvaluator Create(CommentMatch match, CompileContext context) => Instance;

    public override bool Matches(PacketState state) => true;
}
