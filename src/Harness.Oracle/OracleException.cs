namespace Harness.Oracle;

/// <summary>The oracle could not do what was asked (missing tools, a command that failed, a kernel that did not answer).</summary>
public sealed class OracleException(string message) : Exception(message);
