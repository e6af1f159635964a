using Harness.Hosts;

namespace Harness.Golden.Cases;

/// <summary>A case manifest or golden file that cannot be used: one line, "file:line:column: error: detail".</summary>
public sealed class CaseFormatException : InputFormatException
{
    public CaseFormatException(string file, int? line, int? column, string detail, Exception? inner = null)
        : base(file, line, column, detail, inner)
    {
    }
}
