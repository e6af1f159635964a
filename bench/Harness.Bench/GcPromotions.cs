using System.Diagnostics.Tracing;
using System.Globalization;

namespace Harness.Bench;

/// <summary>
/// Sums the runtime's GCHeapStats events: how many bytes each collection promoted out of generations 0 and 1. Less
/// noisy than pause times on a shared machine: `replay-bench [packets] --engine-only` prints it per run.
/// </summary>
public sealed class GcPromotions : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private long _fromGen0, _fromGen1, _collections;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Informational, GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("GCHeapStats", StringComparison.Ordinal) || e.Payload is null) return;
        long Field(string name) => e.PayloadNames!.IndexOf(name) is int i and >= 0 ? Convert.ToInt64(e.Payload[i], CultureInfo.InvariantCulture) : 0;
        Interlocked.Add(ref _fromGen0, Field("TotalPromotedSize0"));
        Interlocked.Add(ref _fromGen1, Field("TotalPromotedSize1"));
        Interlocked.Increment(ref _collections);
    }

    /// <summary>The totals since the last call, as text; resets them.</summary>
    public string TakeReport()
    {
        // Events arrive on another thread shortly after each collection.
        Thread.Sleep(200);
        var text = string.Create(CultureInfo.InvariantCulture,
            $"promoted {Interlocked.Exchange(ref _fromGen0, 0) / 1e6:F1} MB out of gen0, {Interlocked.Exchange(ref _fromGen1, 0) / 1e6:F1} MB out of gen1 in {Interlocked.Exchange(ref _collections, 0)} GCs");
        return text;
    }
}
