using Harness.Engine.Conntrack;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// The TCP state table, cell by cell, against an independent transcription of the kernel's tcp_conntracks
/// (net/netfilter/nf_conntrack_proto_tcp.c, Linux 6.x), and against the reviewable golden dump.
/// </summary>
public class TcpStateTableTests
{
    // The kernel's table, as its rows read: [dir][class] over sNO sSS sSR sES sFW sCW sLA sTW sCL sS2.
    private static readonly string[][] Kernel =
    [
        [
            "sSS sSS sIG sIG sIG sIG sIG sSS sSS sS2", // syn
            "sIV sIV sSR sIV sIV sIV sIV sIV sIV sSR", // synack
            "sIV sIV sFW sFW sLA sLA sLA sTW sCL sIV", // fin
            "sES sIV sES sES sCW sCW sTW sTW sCL sIV", // ack
            "sIV sCL sCL sCL sCL sCL sCL sCL sCL sCL", // rst
            "sIV sIV sIV sIV sIV sIV sIV sIV sIV sIV", // none
        ],
        [
            "sIV sS2 sIV sIV sIV sIV sIV sSS sIV sS2",
            "sIV sSR sIG sIG sIG sIG sIG sIG sIG sSR",
            "sIV sIV sFW sFW sLA sLA sLA sTW sCL sIV",
            "sIV sIG sSR sES sCW sCW sTW sTW sCL sIG",
            "sIV sCL sCL sCL sCL sCL sCL sCL sCL sCL",
            "sIV sIV sIV sIV sIV sIV sIV sIV sIV sIV",
        ],
    ];

    private static string Short(TcpCell c) => c.Kind switch
    {
        TcpCellKind.Ignore => "sIG",
        TcpCellKind.Invalid => "sIV",
        _ => c.State switch
        {
            TcpConntrackState.None => "sNO",
            TcpConntrackState.SynSent => "sSS",
            TcpConntrackState.SynRecv => "sSR",
            TcpConntrackState.Established => "sES",
            TcpConntrackState.FinWait => "sFW",
            TcpConntrackState.CloseWait => "sCW",
            TcpConntrackState.LastAck => "sLA",
            TcpConntrackState.TimeWait => "sTW",
            TcpConntrackState.Close => "sCL",
            _ => "sS2",
        },
    };

    public static IEnumerable<object[]> AllCells()
    {
        foreach (var dir in Enum.GetValues<CtDirection>())
            foreach (var cls in Enum.GetValues<TcpFlagClass>())
                foreach (var old in Enum.GetValues<TcpConntrackState>())
                    yield return [dir, cls, old];
    }

    [Theory]
    [MemberData(nameof(AllCells))]
    public void Cell_matches_the_kernel_table(CtDirection dir, TcpFlagClass cls, TcpConntrackState old)
    {
        var expected = Kernel[(int)dir][(int)cls].Split(' ')[(int)old];
        var cell = TcpStateTable.Lookup(dir, cls, old);
        Assert.Equal(expected, Short(cell));
        Assert.False(string.IsNullOrWhiteSpace(cell.Reason));
    }

    [Fact]
    public void Table_has_120_cells_each_with_its_own_line_in_the_dump()
    {
        var lines = TcpStateTable.Dump().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2 * 6 * 10, lines.Length);
        Assert.Contains("ORIGINAL SYN    TIME_WAIT   -> SYN_SENT    # a SYN after TIME_WAIT reopens the connection (RFC 1122)", lines);
    }

    [Fact]
    public void Dump_equals_the_golden_file()
    {
        var path = Path.Combine(FindTestProjectDir(), "Conntrack", "tcp-state-table.txt");
        var actual = TcpStateTable.Dump();
        if (Environment.GetEnvironmentVariable("HARNESS_UPDATE_GOLDEN") == "1") File.WriteAllText(path, actual);
        Assert.True(File.Exists(path), $"golden file missing: {path} (run with HARNESS_UPDATE_GOLDEN=1 to create it)");
        Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }

    [Theory]
    [InlineData(Harness.Net.TcpFlags.Syn, TcpFlagClass.Syn)]
    [InlineData(Harness.Net.TcpFlags.Syn | Harness.Net.TcpFlags.Ack, TcpFlagClass.SynAck)]
    [InlineData(Harness.Net.TcpFlags.Rst | Harness.Net.TcpFlags.Syn, TcpFlagClass.Rst)]
    [InlineData(Harness.Net.TcpFlags.Fin | Harness.Net.TcpFlags.Ack, TcpFlagClass.Fin)]
    [InlineData(Harness.Net.TcpFlags.Ack | Harness.Net.TcpFlags.Psh, TcpFlagClass.Ack)]
    [InlineData(Harness.Net.TcpFlags.Psh, TcpFlagClass.None)]
    public void Flags_reduce_to_the_kernel_class(Harness.Net.TcpFlags flags, TcpFlagClass expected) =>
        Assert.Equal(expected, TcpStateTable.ClassOf(flags));

    private static string FindTestProjectDir()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Harness.Engine.Tests.csproj"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("Harness.Engine.Tests.csproj not found above " + AppContext.BaseDirectory);
    }
}
