using System.Runtime.ExceptionServices;

namespace Harness.Oracle.Native;

/// <summary>
/// Runs a function inside a named network namespace on a dedicated thread (setns changes only the calling thread),
/// so sockets it opens belong to that namespace; the rest of the process never leaves its own namespace.
/// </summary>
internal static class NetNs
{
    public static T RunInside<T>(string namespaceName, Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try { result = EnterAndRun(namespaceName, action); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        })
        { IsBackground = true, Name = "hx-oracle-setns" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    private static T EnterAndRun<T>(string namespaceName, Func<T> action)
    {
        int original = LibC.open("/proc/thread-self/ns/net", LibC.ORdonly | LibC.OCloexec);
        if (original < 0) throw new OracleException($"cannot open this thread's network namespace: {LibC.ErrorText(LibC.Errno)}");
        int target = LibC.open($"/var/run/netns/{namespaceName}", LibC.ORdonly | LibC.OCloexec);
        if (target < 0)
        {
            LibC.close(original);
            throw new OracleException($"cannot open network namespace '{namespaceName}': {LibC.ErrorText(LibC.Errno)}");
        }
        try
        {
            if (LibC.setns(target, LibC.CloneNewNet) != 0)
                throw new OracleException($"setns into '{namespaceName}' failed: {LibC.ErrorText(LibC.Errno)}");
            return action();
        }
        finally
        {
            // The thread dies right after; going back is still done so nothing else ever runs inside by accident.
            LibC.setns(original, LibC.CloneNewNet);
            LibC.close(target);
            LibC.close(original);
        }
    }
}
