using System.Globalization;
using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-m mac --mac-source ADDR (PREROUTING, INPUT, FORWARD only).</summary>
public sealed record MacMatch(Negatable<MacAddress> Source) : MatchExtension
{
    public override string Name => "mac";

    /// <summary>Lower-case colon form, as iptables-save prints it.</summary>
    internal static string Print(MacAddress mac) => mac.ToString().ToLower(CultureInfo.InvariantCulture);

    protected override void SaveOptions(SaveWriter w) => w.Option("--mac-source", Print(Source.Value), Source.Negated);
}

public sealed class MacMatchParser : MatchParser
{
    private Negatable<MacAddress>? _source;

    protected override string ExtensionName => "mac";

    public MacMatchParser() => On("mac-source", (inv, a) =>
    {
        var text = a.Next("MAC address");
        if (!MacAddress.TryParse(text, out var mac)) throw a.Error($"Bad mac address \"{text}\"");
        _source = new(mac, inv);
    }, invert: true);

    public override MatchExtension Finish(RuleContext context) =>
        new MacMatch(_source ?? throw Error("mac: option \"--mac-source\" must be specified"));
}
