using Spectre.Console;

namespace Harness.Cli;

/// <summary>Where a command writes: plain writers for data, Spectre consoles for tables and trees.</summary>
public sealed class CliConsole
{
    public CliConsole(TextWriter stdout, TextWriter stderr)
    {
        Out = stdout;
        Error = stderr;
        IsTerminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        Ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = IsTerminal ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(stdout),
        });
        if (!IsTerminal) Ansi.Profile.Width = 200;
    }

    public TextWriter Out { get; }
    public TextWriter Error { get; }

    /// <summary>True when stdout is an interactive terminal: only then are progress bars and colours shown.</summary>
    public bool IsTerminal { get; }

    public IAnsiConsole Ansi { get; }
}
