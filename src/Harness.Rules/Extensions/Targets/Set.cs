using System.Collections.Immutable;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>One set operation of -j SET: the set name and which packet fields (true = src) form the element.</summary>
public sealed record SetReference(string SetName, ImmutableArray<bool> Directions)
{
    public bool Equals(SetReference? o) => o is not null && SetName == o.SetName && Directions.SequenceEqual(o.Directions);

    public override int GetHashCode() => SetName.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => SetName + " " + SetMatch.PrintDirections(Directions);
}

/// <summary>-j SET: adds to and/or deletes from ipsets; does not end the traversal.</summary>
public sealed record SetTarget(SetReference? Add, SetReference? Delete, bool Exist, uint? Timeout) : TargetExtension
{
    public override string Name => "SET";
    public override bool IsTerminal => false;

    protected override void SaveOptions(SaveWriter w)
    {
        if (Add is not null) w.Word("--add-set").Word(Add.SetName).Word(SetMatch.PrintDirections(Add.Directions));
        if (Delete is not null) w.Word("--del-set").Word(Delete.SetName).Word(SetMatch.PrintDirections(Delete.Directions));
        if (Exist) w.Word("--exist");
        if (Timeout is { } t) w.Word("--timeout").Word(Values.Dec(t));
    }
}

public sealed class SetTargetParser : TargetParser
{
    private SetReference? _add, _del;
    private bool _exist;
    private uint? _timeout;

    protected override string ExtensionName => "SET";

    public SetTargetParser()
    {
        On("add-set", (_, a) => _add = Reference(a));
        On("del-set", (_, a) => _del = Reference(a));
        Flag("exist", _ => _exist = true);
        On("timeout", (_, a) => _timeout = Values.UInt32(a, "SET"));
    }

    private static SetReference Reference(OptionArguments a)
    {
        var name = a.Next("set name");
        if (name.Length > 31) throw a.Error($"SET: setname `{name}' too long, max 31 characters.");
        return new SetReference(name, SetMatch.ParseDirections(a, "SET"));
    }

    public override TargetExtension Finish(RuleContext context)
    {
        if (_add is null && _del is null) throw Error("SET target: You must specify either `--add-set' or `--del-set'");
        if ((_exist || _timeout is not null) && _add is null) throw Error("SET target: --exist and --timeout need --add-set");
        return new SetTarget(_add, _del, _exist, _timeout);
    }
}
