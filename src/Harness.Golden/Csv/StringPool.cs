namespace Harness.Golden.Csv;

/// <summary>
/// One shared instance per distinct string, up to <see cref="Capacity"/> distinct values (past that, strings are kept
/// as given): the cells of golden rows repeat a few values many times.
/// </summary>
internal sealed class StringPool
{
    private const int Capacity = 1 << 16;

    private readonly Dictionary<string, string> _pool = new(StringComparer.Ordinal);

    public string Intern(string value)
    {
        if (value.Length == 0) return "";
        if (_pool.TryGetValue(value, out var shared)) return shared;
        if (_pool.Count < Capacity) _pool[value] = value;
        return value;
    }
}
