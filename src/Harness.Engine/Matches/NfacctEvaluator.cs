using Harness.Engine.Walk;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>-m nfacct: counts into a named accounting object and always matches.</summary>
public sealed class NfacctEvaluator : MatchEvaluator
{
    public static MatchEvaluator Create(NfacctMatch m, CompileContext c) => new NfacctEvaluator();

    public override bool Matches(PacketState state) => true;
}
