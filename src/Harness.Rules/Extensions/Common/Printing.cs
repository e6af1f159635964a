using Harness.Net;

namespace Harness.Rules.Extensions;

/// <summary>Small formatting helpers for canonical save output.</summary>
public static class Printing
{
    /// <summary>"a" or "a:b".</summary>
    public static string Range(PortRange r, char separator = ':') =>
        r.IsSingle ? Values.Dec(r.First) : Values.Dec(r.First) + separator + Values.Dec(r.Last);

    /// <summary>An address with "/len" unless it is a single host (xtables_ipaddr_to_numeric + ipmask_to_numeric), host bits kept.</summary>
    public static string AddressMaybeMask(Cidr c) =>
        c.PrefixLength == c.Address.BitLength ? c.Address.ToString() : c.Address + "/" + Values.Dec((ulong)c.PrefixLength);

    /// <summary>Like <see cref="AddressMaybeMask"/> but with the host bits cleared.</summary>
    public static string NetworkMaybeMask(Cidr c) =>
        c.PrefixLength == c.Address.BitLength ? c.Address.ToString() : c.Network + "/" + Values.Dec((ulong)c.PrefixLength);

    public static void Negatable<T>(SaveWriter w, string option, Negatable<T>? value, Func<T, string> format)
    {
        if (value is { } v) w.Option(option, format(v.Value), v.Negated);
    }
}

/// <summary>An inclusive range of 32-bit values (conntrack --ctexpire, length, …).</summary>
public readonly record struct UIntRange(uint Min, uint Max)
{
    public bool Contains(uint v) => v >= Min && v <= Max;

    public override string ToString() => Min == Max ? Values.Dec(Min) : Values.Dec(Min) + ":" + Values.Dec(Max);

    /// <summary>"a", "a:b", "a:", ":b" within [0, max].</summary>
    public static UIntRange Parse(Parsing.OptionArguments args, string ext, uint max = uint.MaxValue)
    {
        var text = args.Next("value[:value]");
        var sep = text.IndexOf(':');
        ulong lo, hi;
        bool ok;
        if (sep < 0) { ok = Values.TryUInt(text, max, out lo); hi = lo; }
        else
        {
            lo = 0; hi = max;
            ok = (sep == 0 || Values.TryUInt(text[..sep], max, out lo)) &&
                 (sep == text.Length - 1 || Values.TryUInt(text[(sep + 1)..], max, out hi));
        }
        if (!ok) throw args.Error($"{ext}: bad value for option \"{args.Option}\", or out of range (0-{max}).");
        if (lo > hi) throw args.Error($"{ext}: bad range for option \"{args.Option}\" ({text}): start is greater than end");
        return new UIntRange((uint)lo, (uint)hi);
    }
}
