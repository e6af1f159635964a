using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

public enum RecentCommand
{
    Set,
    Check,
    Update,
    Remove,
}

/// <summary>
/// -m recent (revision 1): a named list of recently seen addresses. <see cref="Seconds"/>/<see cref="HitCount"/>
/// 0 mean "not tested". <see cref="Mask"/> applies to the address before it is stored or looked up.
/// </summary>
public sealed record RecentMatch(
    RecentCommand Command,
    bool Negated,
    uint Seconds,
    bool Reap,
    uint HitCount,
    bool CheckTtl,
    string ListName,
    Address Mask,
    bool UseDestination) : MatchExtension
{
    public override string Name => "recent";

    protected override void SaveOptions(SaveWriter w)
    {
        var command = Command switch
        {
            RecentCommand.Set => "--set",
            RecentCommand.Check => "--rcheck",
            RecentCommand.Update => "--update",
            _ => "--remove",
        };
        w.Option(command, null, Negated);
        if (Seconds != 0) w.Word("--seconds").Word(Values.Dec(Seconds));
        if (Reap) w.Word("--reap");
        if (HitCount != 0) w.Word("--hitcount").Word(Values.Dec(HitCount));
        if (CheckTtl) w.Word("--rttl");
        w.Word("--name").Word(ListName);
        w.Word("--mask").Word(Mask.ToString());
        w.Word(UseDestination ? "--rdest" : "--rsource");
    }
}

public sealed class RecentMatchParser : MatchParser
{
    private readonly Family _family;
    private RecentCommand? _command;
    private bool _negated, _reap, _ttl, _dest;
    private uint _seconds, _hits;
    private string _name = "DEFAULT";
    private Address? _mask;

    protected override string ExtensionName => "recent";

    public RecentMatchParser(Family family)
    {
        _family = family;
        Flag("set", inv => Command(RecentCommand.Set, inv), invert: true);
        Flag("rcheck", inv => Command(RecentCommand.Check, inv), invert: true);
        Flag("update", inv => Command(RecentCommand.Update, inv), invert: true);
        Flag("remove", inv => Command(RecentCommand.Remove, inv), invert: true);
        On("seconds", (_, a) => _seconds = Values.UInt32(a, "recent", uint.MaxValue, 1));
        Flag("reap", _ => _reap = true);
        On("hitcount", (_, a) => _hits = Values.UInt32(a, "recent", 65535, 1));
        Flag("rttl", _ => _ttl = true);
        On("name", (_, a) =>
        {
            var text = a.Next("name");
            if (text.Length == 0 || text.Length > 199) throw a.Error("recent: name must be 1-199 characters");
            _name = text;
        });
        On("mask", (_, a) => _mask = Values.Address(a, a.Next("mask"), family));
        Flag("rsource", _ => _dest = false);
        Flag("rdest", _ => _dest = true);
    }

    private void Command(RecentCommand command, bool negated)
    {
        if (_command is not null)
            throw Error("recent: only one of `--set', `--rcheck' `--update' or `--remove' may be set");
        _command = command;
        _negated = negated;
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_command is not { } command)
            throw Error("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'");
        if (_ttl && command is RecentCommand.Set or RecentCommand.Remove)
            throw Error("recent: --rttl may only be used with --rcheck or --update");
        if (_reap && _seconds == 0) throw Error("recent: option \"--reap\" also requires \"--seconds\".");
        if ((_seconds != 0 || _hits != 0) && command is RecentCommand.Set or RecentCommand.Remove)
            throw Error("recent: --seconds and --hitcount may only be used with --rcheck or --update");
        var mask = _mask ?? new Address(_family == Family.IPv4 ? uint.MaxValue : UInt128.MaxValue, _family);
        return new RecentMatch(command, _negated, _seconds, _reap, _hits, _ttl, _name, mask, _dest);
    }
}
