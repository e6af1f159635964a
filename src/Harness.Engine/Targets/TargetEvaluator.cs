using Harness.Engine.Walk;

namespace Harness.Engine.Targets;

/// <summary>What a target tells the chain walk to do next.</summary>
public enum TargetVerdict
{
    /// <summary>Non-terminating target (LOG, MARK, …): go on with the next rule.</summary>
    Continue,
    Accept,
    Drop,

    /// <summary>Leave the chain as RETURN does.</summary>
    Return,

    /// <summary>Hand to userspace: with no listener the kernel drops it.</summary>
    Queue,
}

/// <summary>The per-packet action of one "-j NAME" extension target, built once at engine construction.</summary>
public abstract class TargetEvaluator
{
    public abstract TargetVerdict Execute(PacketState state);
}
