namespace Harness.Packets;

/// <summary>
/// How to read a capture: the interface to assume when the capture does not name one (classic pcap, SLL v1,
/// pcapng without if_name), and the interface names for the numeric indexes some link types carry (SLL2, NFLOG),
/// usually from the host description.
/// </summary>
public sealed record CaptureOptions(string? DefaultInterface = null, IReadOnlyDictionary<int, string>? InterfaceNamesByIndex = null)
{
    public static readonly CaptureOptions Default = new();

    internal string? NameOfIndex(int index) =>
        InterfaceNamesByIndex is not null && InterfaceNamesByIndex.TryGetValue(index, out var name) ? name : DefaultInterface;
}
