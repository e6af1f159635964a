using Harness.Rules.Extensions;

namespace Harness.Engine.Conntrack;

/// <summary>
/// A conntrack zone as the kernel keeps it (struct nf_conntrack_zone): an id and the directions it applies to. A zone
/// given with <c>--zone-orig</c> / <c>--zone-reply</c> applies to the tuple of that direction only; the tuple of the
/// other direction lives in the default zone 0 (nf_ct_zone_id).
/// </summary>
public readonly record struct CtZone(ushort Id, CtZoneDirection Direction = CtZoneDirection.Both)
{
    /// <summary>The zone id the tuple of <paramref name="direction"/> is hashed and compared with (0 where the zone does not apply).</summary>
    public ushort IdOf(CtDirection direction) => Direction switch
    {
        CtZoneDirection.Original => direction == CtDirection.Original ? Id : (ushort)0,
        CtZoneDirection.Reply => direction == CtDirection.Reply ? Id : (ushort)0,
        _ => Id,
    };

    /// <summary>True for a zone with a direction and an id other than 0 (its two tuples live in different zones).</summary>
    public bool IsDirectional => Direction != CtZoneDirection.Both && Id != 0;
}

/// <summary>
/// What the raw table decided about conntrack for one packet before the conntrack step (the kernel's template
/// conntrack): <c>-j NOTRACK</c> / <c>-j CT --notrack</c> (untracked), <c>-j CT --zone[-orig|-reply] N|mark</c>,
/// <c>-j CT --helper ftp</c>, <c>-j CT --timeout NAME</c> (a timeout policy the new entry keeps). The engine starts each packet with <see cref="Default"/>; the first CT or NOTRACK target
/// the packet meets sets <see cref="Attached"/>, and later ones change nothing (xt_ct_target leaves a packet that
/// already has a template alone).
/// </summary>
/// <param name="ZoneFromMark">"--zone mark": the zone id is the packet's mark (its low 16 bits) when conntrack runs
/// (nf_ct_zone_tmpl), not when the rule runs; <see cref="AtConntrack"/> resolves it.</param>
/// <param name="Timeouts">"--timeout NAME": the policy a connection this template creates takes its timeouts from.</param>
public sealed record CtTemplate(
    bool NoTrack = false,
    ushort Zone = 0,
    string? Helper = null,
    CtZoneDirection ZoneDirection = CtZoneDirection.Both,
    bool ZoneFromMark = false,
    bool Attached = false,
    CtTimeoutPolicy? Timeouts = null)
{
    public static readonly CtTemplate Default = new();

    /// <summary>The zone new entries get and lookups use.</summary>
    public CtZone ZoneSpec => new(Zone, ZoneDirection);

    /// <summary>The template as the conntrack step sees it: a mark zone takes the packet's mark now.</summary>
    public CtTemplate AtConntrack(uint mark) => ZoneFromMark ? this with { Zone = (ushort)mark, ZoneFromMark = false } : this;

    /// <summary>The helpers the model implements ("ftp", "tftp", "netbios-ns", "irc", "sane", "amanda", "snmp"). Others must be refused when the ruleset is loaded.</summary>
    public static readonly IReadOnlyList<string> SupportedHelpers = ["ftp", "tftp", "netbios-ns", "irc", "sane", "amanda", "snmp"];

    /// <summary>
    /// The layer-4 protocol a helper is registered for (ftp, irc, sane: TCP; tftp, netbios-ns, amanda, snmp: UDP): xt_ct
    /// looks the helper up by name, family and the rule's -p, so a rule without that -p (or with it inverted) finds none.
    /// </summary>
    public static byte HelperProtocol(string name) => name is "ftp" or "irc" or "sane" ? Harness.Net.IpProtocol.Tcp : Harness.Net.IpProtocol.Udp;

    /// <summary>True when the helper is registered for <paramref name="family"/> (netbios-ns, irc and snmp are IPv4 only).</summary>
    public static bool HelperHasFamily(string name, Harness.Net.Family family) => name is not ("netbios-ns" or "irc" or "snmp") || family == Harness.Net.Family.IPv4;

    /// <summary>True when <paramref name="name"/> is a helper the model implements.</summary>
    public static bool IsSupportedHelper(string name) => SupportedHelpers.Contains(name, StringComparer.Ordinal);

    /// <summary>
    /// The template after "-j CT --helper NAME"; throws <see cref="ArgumentException"/> naming the helper when the model
    /// has no such helper (the engine should check <see cref="IsSupportedHelper"/> when it compiles the ruleset).
    /// </summary>
    public CtTemplate WithHelper(string name) => IsSupportedHelper(name)
        ? this with { Helper = name }
        : throw new ArgumentException($"conntrack helper \"{name}\" is not supported (supported: {string.Join(", ", SupportedHelpers)})", nameof(name));
}
