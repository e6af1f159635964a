using Harness.Golden.Check;
using Harness.Packets;

namespace Harness.Golden.Replay;

/// <summary>Traffic from a flow description (docs/flows.md), through the packet library's generator.</summary>
public static class FlowTraffic
{
    public static IEnumerable<Packet> Generate(string flowsPath, int seed)
    {
        var spec = Load(flowsPath);
        return FlowGenerator.Generate(spec, seed);
    }

    public static FlowSpec Load(string flowsPath)
    {
        try
        {
            return FlowGenerator.Load(flowsPath);
        }
        catch (FlowFormatException e)
        {
            throw new CaseInputException(e.Line > 0
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{e.Path}:{e.Line}:{e.Column}: error: {e.Detail}")
                : $"{e.Path}: error: {e.Detail}", e);
        }
    }
}
