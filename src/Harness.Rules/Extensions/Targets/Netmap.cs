using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j NETMAP --to ADDR/LEN: maps the network part 1:1 (destination in PREROUTING/OUTPUT, source in POSTROUTING/INPUT).</summary>
public sealed record NetmapTarget(Cidr To) : TargetExtension
{
    public override string Name => "NETMAP";
    public override bool IsTerminal => true;

    protected override void SaveOptions(SaveWriter w) => w.Word("--to").Word(To.ToString());
}

public sealed class NetmapTargetParser : TargetParser
{
    private Cidr? _to;

    protected override string ExtensionName => "NETMAP";

    public NetmapTargetParser(Family family) => On("to", (_, a) =>
    {
        var c = Values.Cidr(a, a.Next("address[/mask]"), family);
        _to = new Cidr(c.Network, c.PrefixLength);
    });

    public override TargetExtension Finish(RuleContext context) =>
        new NetmapTarget(_to ?? throw Error("NETMAP: option \"--to\" must be specified"));
}
