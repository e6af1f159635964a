namespace Harness.Net;

/// <summary>The address family of a ruleset, a packet or an address.</summary>
public enum Family
{
    IPv4 = 4,
    IPv6 = 6,
}
