using Harness.Net;

namespace Harness.Rules;

/// <summary>
/// The matches every rule has without "-m": -s, -d, -i, -o, -p and (IPv4) -f, each negatable. Null means "any".
/// </summary>
public sealed record IpHeaderMatch(
    Negatable<Cidr>? Source = null,
    Negatable<Cidr>? Destination = null,
    Negatable<InterfaceName>? InInterface = null,
    Negatable<InterfaceName>? OutInterface = null,
    Negatable<byte>? Protocol = null,
    Negatable<bool>? Fragment = null)
{
    public static readonly IpHeaderMatch Any = new();
}
