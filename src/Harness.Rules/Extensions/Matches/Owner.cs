using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m owner (OUTPUT and POSTROUTING only): the local socket's uid/gid ranges. Null: not tested.</summary>
public sealed record OwnerMatch(
    Negatable<bool>? SocketExists,
    Negatable<UIntRange>? Uid,
    Negatable<UIntRange>? Gid,
    bool SupplementaryGroups) : MatchExtension
{
    public override string Name => "owner";

    internal static string PrintRange(UIntRange r) => r.Min == r.Max ? Values.Dec(r.Min) : Values.Dec(r.Min) + "-" + Values.Dec(r.Max);

    protected override void SaveOptions(SaveWriter w)
    {
        if (SocketExists is { } s) w.Option("--socket-exists", null, s.Negated);
        Printing.Negatable(w, "--uid-owner", Uid, PrintRange);
        Printing.Negatable(w, "--gid-owner", Gid, PrintRange);
        if (SupplementaryGroups) w.Word("--suppl-groups");
    }
}

public sealed class OwnerMatchParser : MatchParser
{
    private OwnerMatch _m = new(null, null, null, false);

    protected override string ExtensionName => "owner";

    public OwnerMatchParser()
    {
        Flag("socket-exists", inv => _m = _m with { SocketExists = new(true, inv) }, invert: true);
        On("uid-owner", (inv, a) => _m = _m with { Uid = new(Ids(a, "user"), inv) }, invert: true);
        On("gid-owner", (inv, a) => _m = _m with { Gid = new(Ids(a, "group"), inv) }, invert: true);
        On("suppl-groups", (_, a) =>
        {
            if (_m.Gid is null) throw a.Error("owner: --suppl-groups: you need to use --gid-owner first");
            _m = _m with { SupplementaryGroups = true };
        });
    }

    /// <summary>"id", "id-id", or "root" (other names would depend on this machine's passwd/group files).</summary>
    private static UIntRange Ids(OptionArguments a, string what)
    {
        var text = a.Next(what);
        if (text == "root") return new UIntRange(0, 0);
        var dash = text.IndexOf('-');
        var loText = dash < 0 ? text : text[..dash];
        var hiText = dash < 0 ? text : text[(dash + 1)..];
        if (!Values.TryUInt(loText, uint.MaxValue - 1, out var lo) || !Values.TryUInt(hiText, uint.MaxValue - 1, out var hi) || lo > hi)
        {
            if (dash < 0 && text.Length > 0 && !char.IsAsciiDigit(text[0]))
                throw a.Error($"owner: {what} name \"{text}\" cannot be resolved by Harness; use the numeric id");
            throw a.Error($"owner: Bad value for option \"{a.Option}\": \"{text}\"");
        }
        return new UIntRange((uint)lo, (uint)hi);
    }

    public override MatchExtension Finish(RuleContext context)
    {
        if (_m == new OwnerMatch(null, null, null, false)) throw Error("owner: at least one of --uid-owner, --gid-owner or --socket-exists is required");
        return _m;
    }
}
