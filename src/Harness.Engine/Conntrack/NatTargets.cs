using Harness.Hosts;
using Harness.Net;
using Harness.Rules;

namespace Harness.Engine.Conntrack;

/// <summary>
/// Turns the NAT targets that choose their address from the host (REDIRECT, MASQUERADE) or from the packet (NETMAP)
/// into the plain <see cref="NatRange"/> that <see cref="ConntrackTable.SetupNat"/> takes, as the kernel's
/// nf_nat_redirect / nf_nat_masquerade / nf_nat_netmap do. A null result means the kernel drops the packet
/// (no usable address).
/// </summary>
public static class NatTargets
{
    /// <summary>
    /// REDIRECT: the destination becomes the incoming interface's first (primary) address — or the loopback address
    /// for locally generated packets (OUTPUT) — with the ports of <paramref name="ports"/> (--to-ports, --random).
    /// </summary>
    public static NatRange? Redirect(NatRange ports, Hook hook, HostInterface? inInterface, Family family)
    {
        Address target;
        if (hook == Hook.Output)
            target = family == Family.IPv4 ? Address.V4(0x7F000001) : new Address(1, Family.IPv6);
        else
        {
            var first = inInterface?.Addresses.FirstOrDefault(a => a.Address.Family == family);
            if (first is null) return null;
            target = first.Address;
        }
        return ports with { MinAddress = target, MaxAddress = target };
    }

    /// <summary>
    /// MASQUERADE: the source becomes the egress interface's primary address in the next hop's subnet, else its
    /// first primary address (inet_select_addr); IPv6 takes the address sharing the longest prefix with the
    /// destination, global before link-local. Ports from <paramref name="ports"/> (--to-ports, --random).
    /// </summary>
    public static NatRange? Masquerade(NatRange ports, HostInterface outInterface, Family family, Address nextHop)
    {
        var address = family == Family.IPv4
            ? SelectIpv4Source(outInterface, nextHop)
            : SelectIpv6Source(outInterface, nextHop);
        return address is { } a ? ports with { MinAddress = a, MaxAddress = a } : null;
    }

    /// <summary>
    /// NETMAP --to PREFIX: maps the destination (PREROUTING/OUTPUT) or source (POSTROUTING/INPUT) address
    /// one-to-one into <paramref name="to"/>, keeping the host bits; ports untouched.
    /// </summary>
    public static NatRange Netmap(Cidr to, Address original)
    {
        var mask = to.Mask;
        var mapped = new Address((original.Value & ~mask & AllOnes(original.Family)) | (to.Address.Value & mask), original.Family);
        return new NatRange(mapped, mapped, null, null);
    }

    /// <summary>The manip type a NAT target at this hook performs (dst at PREROUTING/OUTPUT, src at POSTROUTING/INPUT).</summary>
    public static NatManipType ManipOf(Hook hook) => hook is Hook.Prerouting or Hook.Output
        ? NatManipType.Destination
        : NatManipType.Source;

    private static UInt128 AllOnes(Family f) => f == Family.IPv4 ? uint.MaxValue : UInt128.MaxValue;

    private static Address? SelectIpv4Source(HostInterface iface, Address nextHop)
    {
        var primaries = PrimaryAddresses(iface, Family.IPv4).ToList();
        foreach (var a in primaries)
            if (a.Network.Contains(nextHop)) return a.Address;
        return primaries.Count > 0 ? primaries[0].Address : null;
    }

    /// <summary>The kernel marks an IPv4 address "secondary" when an earlier one on the interface covers its subnet.</summary>
    private static IEnumerable<InterfaceAddress> PrimaryAddresses(HostInterface iface, Family family)
    {
        var seen = new List<InterfaceAddress>();
        foreach (var a in iface.Addresses.Where(a => a.Address.Family == family))
        {
            if (!seen.Any(p => p.PrefixLength <= a.PrefixLength && p.Network.Contains(a.Address))) yield return a;
            seen.Add(a);
        }
    }

    private static Address? SelectIpv6Source(HostInterface iface, Address destination)
    {
        var candidates = iface.Addresses.Where(a => a.Address.Family == Family.IPv6).ToList();
        if (candidates.Count == 0) return null;
        bool destLinkLocal = IsLinkLocal(destination);
        return candidates
            .OrderBy(a => IsLinkLocal(a.Address) == destLinkLocal ? 0 : 1)
            .ThenByDescending(a => CommonPrefix(a.Address, destination))
            .First().Address;
    }

    private static bool IsLinkLocal(Address a) => (a.Value >> 118) == 0x3FA; // fe80::/10

    private static int CommonPrefix(Address a, Address b)
    {
        var x = a.Value ^ b.Value;
        return x == 0 ? 128 : (int)UInt128.LeadingZeroCount(x);
    }
}
