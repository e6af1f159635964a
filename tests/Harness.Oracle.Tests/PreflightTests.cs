using Harness.Oracle;

namespace Harness.Oracle.Tests;

public class PreflightTests
{
    [Fact]
    public void Refuses_a_user_that_is_not_root_with_one_line()
    {
        var why = Preflight.WhyNotAvailable(1000, _ => true);
        Assert.Equal("the kernel oracle needs root (it creates network namespaces)", why);
    }

    [Fact]
    public void Names_every_missing_tool_on_one_line()
    {
        var why = Preflight.WhyNotAvailable(0, t => t is not ("nft" or "conntrack"));
        Assert.NotNull(why);
        Assert.DoesNotContain('\n', why);
        Assert.StartsWith("the kernel oracle needs nft, conntrack on PATH", why);
    }

    [Fact]
    public void Accepts_root_with_every_tool() =>
        Assert.Null(Preflight.WhyNotAvailable(0, _ => true));
}
