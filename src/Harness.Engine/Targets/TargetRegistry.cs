using Harness.Engine.Matches;
using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Targets;

/// <summary>
/// The one table of target evaluators: each extension record type (from Harness.Rules.Extensions) maps to the factory
/// of its evaluator. A record without an entry stops engine construction, naming the rule.
/// </summary>
public static class TargetRegistry
{
    private static readonly Dictionary<Type, Func<TargetExtension, CompileContext, TargetEvaluator>> Factories = Build();

    private static Dictionary<Type, Func<TargetExtension, CompileContext, TargetEvaluator>> Build()
    {
        var d = new Dictionary<Type, Func<TargetExtension, CompileContext, TargetEvaluator>>();
        void Add<T>(Func<T, CompileContext, TargetEvaluator> factory) where T : TargetExtension =>
            d.Add(typeof(T), (m, c) => factory((T)m, c));
        // One line per extension (evaluators live one per file in this folder).
        Add<RejectTarget>(RejectEvaluator.Create);
        Add<LogTarget>(LogTargetEvaluator.Create);
        Add<MarkTarget>(MarkTargetEvaluator.Create);
        Add<ConnmarkTarget>(ConnmarkTargetEvaluator.Create);
        Add<TtlTarget>(TtlTargetEvaluator.Create);
        Add<HlTarget>(TtlTargetEvaluator.CreateHl);
        Add<TosTarget>(TosTargetEvaluator.Create);
        Add<DscpTarget>(TosTargetEvaluator.CreateDscp);
        Add<TcpmssTarget>(TcpmssTargetEvaluator.Create);
        Add<ChecksumTarget>(NoEffectTargetEvaluator.CreateChecksum);
        Add<ClassifyTarget>(NoEffectTargetEvaluator.CreateClassify);
        Add<NflogTarget>(NflogTargetEvaluator.Create);
        Add<SetTarget>(SetTargetEvaluator.Create);
        Add<CtTarget>(CtTargetEvaluator.Create);
        Add<NoTrackTarget>(CtTargetEvaluator.CreateNoTrack);
        Add<TraceTarget>(TraceTargetEvaluator.Create);
        Add<DnatTarget>(NatTargetEvaluator.CreateDnat);
        Add<SnatTarget>(NatTargetEvaluator.CreateSnat);
        Add<MasqueradeTarget>(NatTargetEvaluator.CreateMasquerade);
        Add<RedirectTarget>(NatTargetEvaluator.CreateRedirect);
        Add<NetmapTarget>(NatTargetEvaluator.CreateNetmap);
        return d;
    }

    public static IReadOnlyCollection<Type> Supported => Factories.Keys;

    public static TargetEvaluator Create(TargetExtension match, CompileContext context) =>
        Factories.TryGetValue(match.GetType(), out var f)
            ? f(match, context)
            : throw context.Error($"target \"-j {match.Name}\" cannot be evaluated by the engine");
}
