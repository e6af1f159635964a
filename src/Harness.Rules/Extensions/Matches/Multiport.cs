using System.Collections.Immutable;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>Which ports -m multiport tests.</summary>
public enum MultiportDirection
{
    Source,
    Destination,
    Either,
}

/// <summary>-m multiport (revision 1): up to 15 ports, a range counting as two.</summary>
public sealed record MultiportMatch(MultiportDirection Direction, Negatable<ImmutableArray<PortRange>> Ports) : MatchExtension
{
    public override string Name => "multiport";

    public bool Equals(MultiportMatch? other) =>
        other is not null && Direction == other.Direction && Ports.Negated == other.Ports.Negated &&
        Ports.Value.SequenceEqual(other.Ports.Value);

    public override int GetHashCode() => HashCode.Combine(Direction, Ports.Negated, Ports.Value.Length);

    protected override void SaveOptions(SaveWriter w)
    {
        var option = Direction switch
        {
            MultiportDirection.Source => "--sports",
            MultiportDirection.Destination => "--dports",
            _ => "--ports",
        };
        w.Option(option, string.Join(",", Ports.Value.Select(r => Printing.Range(r))), Ports.Negated);
    }
}

public sealed class MultiportMatchParser : MatchParser
{
    private MultiportDirection _direction;
    private string? _list;
    private bool _negated;
    private OptionArguments? _args;

    protected override string ExtensionName => "multiport";

    public MultiportMatchParser()
    {
        On("source-ports", (inv, a) => Set(MultiportDirection.Source, inv, a), invert: true, aliases: "sports");
        On("destination-ports", (inv, a) => Set(MultiportDirection.Destination, inv, a), invert: true, aliases: "dports");
        On("ports", (inv, a) => Set(MultiportDirection.Either, inv, a), invert: true);
    }

    private void Set(MultiportDirection direction, bool negated, OptionArguments args)
    {
        if (_list is not null) throw args.Error("multiport can only have one option");
        _direction = direction;
        _negated = negated;
        _list = args.Next("port list");
        _args = args;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_list is null || _args is null) throw Error("multiport expects an option");
        ProtocolCheck.Require(context, "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'",
            ProtocolCheck.PortProtocols);
        var proto = ProtocolCheck.ServiceProtocol(context);
        var ports = ImmutableArray.CreateBuilder<PortRange>();
        int slots = 0;
        foreach (var part in _list.Split(','))
        {
            var range = Values.PortRange(_args, part, proto);
            slots += range.IsSingle && !part.Contains(':') ? 1 : 2;
            ports.Add(range);
        }
        if (slots > 15) throw _args.Error("too many ports specified");
        return new MultiportMatch(_direction, new Negatable<ImmutableArray<PortRange>>(ports.ToImmutable(), _negated));
    }
}
