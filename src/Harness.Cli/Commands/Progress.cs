using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Harness.Cli;

/// <summary>A packets-per-second progress display, shown only when stdout is a terminal.</summary>
public static class Progress
{
    public static T Run<T>(CliConsole console, string label, Func<Action<long>?, T> work)
    {
        if (!console.IsTerminal) return work(null);
        T result = default!;
        console.Ansi.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new SpinnerColumn(), new PacketCountColumn(), new PacketRateColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: double.MaxValue);
                result = work(n => task.Value = n);
                task.StopTask();
            });
        return result;
    }

    private sealed class PacketCountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(string.Create(CultureInfo.InvariantCulture, $"{task.Value:N0} packets"));
    }

    private sealed class PacketRateColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(string.Create(CultureInfo.InvariantCulture, $"{task.Speed ?? 0:N0} packets/s"));
    }
}
