namespace Harness.Hosts.Loading;

/// <summary>Reads "sysctl -a" output (any subset): "name = value" lines; blank lines and '#'/';' comments are skipped.</summary>
internal static class SysctlReader
{
    public static Sysctls Read(string file, string text)
    {
        var sysctls = Sysctls.Defaults;
        int lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] is '#' or ';') continue;
            int eq = line.IndexOf('=');
            if (eq <= 0)
                throw new HostFormatException(file, lineNumber, 1, $"expected 'name = value' (as sysctl -a prints), found '{Shorten(line)}'");
            var name = line[..eq].Trim().Replace('/', '.');
            if (name.Length == 0 || name.Any(char.IsWhiteSpace))
                throw new HostFormatException(file, lineNumber, 1, $"invalid sysctl name '{Shorten(line[..eq].Trim())}'");
            sysctls = sysctls.With(name, line[(eq + 1)..].Trim());
        }
        return sysctls;
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
