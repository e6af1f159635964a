namespace Harness.Rules;

/// <summary>Packet and byte counters as iptables-save prints them in brackets: [packets:bytes].</summary>
public readonly record struct Counters(ulong Packets, ulong Bytes)
{
    public override string ToString() => $"[{Packets}:{Bytes}]";
}
