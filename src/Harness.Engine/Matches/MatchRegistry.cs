using Harness.Rules;
using Harness.Rules.Extensions;

namespace Harness.Engine.Matches;

/// <summary>
/// The one table of match evaluators: each extension record type (from Harness.Rules.Extensions) maps to the factory
/// of its evaluator. A record without an entry stops engine construction, naming the rule.
/// </summary>
public static class MatchRegistry
{
    private static readonly Dictionary<Type, Func<MatchExtension, CompileContext, MatchEvaluator>> Factories = Build();

    private static Dictionary<Type, Func<MatchExtension, CompileContext, MatchEvaluator>> Build()
    {
        var d = new Dictionary<Type, Func<MatchExtension, CompileContext, MatchEvaluator>>();
        void Add<T>(Func<T, CompileContext, MatchEvaluator> factory) where T : MatchExtension =>
            d.Add(typeof(T), (m, c) => factory((T)m, c));
        // One line per extension (evaluators live one per file in this folder).
        Add<TcpMatch>(TcpEvaluator.Create);
        Add<UdpMatch>(UdpEvaluator.Create);
        Add<IcmpMatch>(IcmpEvaluator.Create);
        Add<Icmp6Match>(IcmpEvaluator.Create6);
        Add<MultiportMatch>(MultiportEvaluator.Create);
        Add<ConntrackMatch>(ConntrackEvaluator.Create);
        Add<StateMatch>(StateEvaluator.Create);
        Add<CommentMatch>(CommentEvaluator.Create);
        Add<MarkMatch>(MarkEvaluator.Create);
        Add<LimitMatch>(LimitEvaluator.Create);
        Add<StatisticMatch>(StatisticEvaluator.Create);
        Add<ConnlimitMatch>(ConnlimitEvaluator.Create);
        Add<HashlimitMatch>(HashlimitEvaluator.Create);
        Add<RecentMatch>(RecentEvaluator.Create);
        Add<SetMatch>(SetEvaluator.Create);
        Add<AddrtypeMatch>(AddrtypeEvaluator.Create);
        Add<OwnerMatch>(OwnerEvaluator.Create);
        Add<TtlMatch>(TtlEvaluator.Create);
        Add<HlMatch>(TtlEvaluator.CreateHl);
        Add<TosMatch>(TosEvaluator.Create);
        Add<DscpMatch>(DscpEvaluator.Create);
        Add<LengthMatch>(LengthEvaluator.Create);
        Add<IprangeMatch>(IprangeEvaluator.Create);
        Add<MacMatch>(MacEvaluator.Create);
        Add<PkttypeMatch>(PkttypeEvaluator.Create);
        Add<ConnmarkMatch>(ConnmarkEvaluator.Create);
        Add<HelperMatch>(HelperEvaluator.Create);
        Add<NfacctMatch>(NfacctEvaluator.Create);
        Add<TimeMatch>(TimeEvaluator.Create);
        Add<StringMatch>(StringEvaluator.Create);
        Add<RpfilterMatch>(RpfilterEvaluator.Create);
        Add<PhysdevMatch>(PhysdevEvaluator.Create);
        Add<PolicyMatch>(PolicyEvaluator.Create);
        Add<SctpMatch>(SctpEvaluator.Create);
        Add<RtMatch>(RtEvaluator.Create);
        return d;
    }

    public static IReadOnlyCollection<Type> Supported => Factories.Keys;

    public static MatchEvaluator Create(MatchExtension match, CompileContext context) =>
        Factories.TryGetValue(match.GetType(), out var f)
            ? f(match, context)
            : throw context.Error($"match \"-m {match.Name}\" cannot be evaluated by the engine");
}
