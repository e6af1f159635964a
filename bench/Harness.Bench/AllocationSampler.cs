using System.Diagnostics.Tracing;
using System.Globalization;

namespace Harness.Bench;

/// <summary>
/// Samples the runtime's GC AllocationTick events (one per ~100 KB allocated, naming the type that crossed the
/// threshold) to show which types the hot path allocates: `replay-bench [packets] --alloc`.
/// </summary>
public sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _bytesByType = new(StringComparer.Ordinal);
    private bool _enabled;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_enabled || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null) return;
        int typeIndex = e.PayloadNames!.IndexOf("TypeName");
        int amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0) return;
        var type = e.Payload[typeIndex] as string ?? "?";
        long amount = amountIndex >= 0 ? Convert.ToInt64(e.Payload[amountIndex], CultureInfo.InvariantCulture) : 100_000;
        lock (_bytesByType) _bytesByType[type] = _bytesByType.GetValueOrDefault(type) + amount;
    }

    public void Start() { lock (_bytesByType) _bytesByType.Clear(); _enabled = true; }

    /// <summary>Stops sampling and prints the share of allocated bytes per type (estimates from the samples), per packet.</summary>
    public void Report(long packets)
    {
        _enabled = false;
        KeyValuePair<string, long>[] rows;
        lock (_bytesByType) rows = [.. _bytesByType.OrderByDescending(k => k.Value)];
        long total = rows.Sum(r => r.Value);
        foreach (var (type, bytes) in rows.Take(25))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {bytes * 100.0 / total,5:F1}%  ~{(double)bytes / packets,7:F1} B/packet  {type}"));
    }
}
