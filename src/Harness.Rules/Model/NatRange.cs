using Harness.Net;

namespace Harness.Rules;

/// <summary>
/// The address/port range of a NAT target (--to-destination, --to-source, --to-ports, NETMAP's --to), as the kernel's
/// nf_nat_range2: null addresses mean "keep the address" (REDIRECT/MASQUERADE pick one), null ports mean "keep the port".
/// </summary>
public sealed record NatRange(
    Address? MinAddress,
    Address? MaxAddress,
    ushort? MinPort,
    ushort? MaxPort,
    bool Random = false,
    bool FullyRandom = false,
    bool Persistent = false)
{
    /// <summary>DNAT's "/BASE" after a port range (nf_nat_range2.base_proto): ports are shifted from BASE into the range.</summary>
    public ushort? BasePort { get; init; }

    public bool HasAddresses => MinAddress is not null;
    public bool HasPorts => MinPort is not null;
}
