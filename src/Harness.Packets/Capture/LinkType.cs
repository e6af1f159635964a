namespace Harness.Packets;

/// <summary>The pcap/pcapng link-layer header types Harness reads (values from the tcpdump.org LINKTYPE registry).</summary>
public static class LinkType
{
    public const int Null = 0;
    public const int Ethernet = 1;
    public const int RawBsd12 = 12;
    public const int RawBsd14 = 14;
    public const int Raw = 101;
    public const int Loop = 108;
    public const int LinuxSll = 113;
    public const int Ipv4 = 228;
    public const int Ipv6 = 229;
    public const int Nflog = 239;
    public const int LinuxSll2 = 276;
}
