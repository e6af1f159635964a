using Harness.Engine.Conntrack;
using Harness.Net;
using Harness.Rules;
using static Harness.Engine.Tests.Conntrack.CtPackets;

namespace Harness.Engine.Tests.Conntrack;

/// <summary>
/// NAT address and port choice. The DNAT-range expectations are what Linux 6.18 chose in a network namespace
/// (OUTPUT DNAT --to-destination 10.9.0.1-10.9.0.200, with and without --persistent, UDP sport 5000 from
/// 10.1.0.1-8 to 10.2.0.1-3, read back with conntrack -L): the kernel hashes the addresses with jhash2, no random
/// seed, so the model must pick exactly the same address.
/// </summary>
public class NatAllocationTests
{
    private const string KernelChoices = """
10.1.0.1 10.2.0.1 10 10.9.0.39
10.1.0.1 10.2.0.1 9 10.9.0.57
10.1.0.1 10.2.0.2 10 10.9.0.39
10.1.0.1 10.2.0.2 9 10.9.0.2
10.1.0.1 10.2.0.3 10 10.9.0.39
10.1.0.1 10.2.0.3 9 10.9.0.64
10.1.0.2 10.2.0.1 10 10.9.0.27
10.1.0.2 10.2.0.1 9 10.9.0.168
10.1.0.2 10.2.0.2 10 10.9.0.27
10.1.0.2 10.2.0.2 9 10.9.0.82
10.1.0.2 10.2.0.3 10 10.9.0.27
10.1.0.2 10.2.0.3 9 10.9.0.155
10.1.0.3 10.2.0.1 10 10.9.0.163
10.1.0.3 10.2.0.1 9 10.9.0.16
10.1.0.3 10.2.0.2 10 10.9.0.163
10.1.0.3 10.2.0.2 9 10.9.0.23
10.1.0.3 10.2.0.3 10 10.9.0.163
10.1.0.3 10.2.0.3 9 10.9.0.16
10.1.0.4 10.2.0.1 10 10.9.0.173
10.1.0.4 10.2.0.1 9 10.9.0.101
10.1.0.4 10.2.0.2 10 10.9.0.173
10.1.0.4 10.2.0.2 9 10.9.0.47
10.1.0.4 10.2.0.3 10 10.9.0.173
10.1.0.4 10.2.0.3 9 10.9.0.166
10.1.0.5 10.2.0.1 10 10.9.0.110
10.1.0.5 10.2.0.1 9 10.9.0.61
10.1.0.5 10.2.0.2 10 10.9.0.110
10.1.0.5 10.2.0.2 9 10.9.0.27
10.1.0.5 10.2.0.3 10 10.9.0.110
10.1.0.5 10.2.0.3 9 10.9.0.170
10.1.0.6 10.2.0.1 10 10.9.0.46
10.1.0.6 10.2.0.1 9 10.9.0.33
10.1.0.6 10.2.0.2 10 10.9.0.46
10.1.0.6 10.2.0.2 9 10.9.0.59
10.1.0.6 10.2.0.3 10 10.9.0.46
10.1.0.6 10.2.0.3 9 10.9.0.126
10.1.0.7 10.2.0.1 10 10.9.0.86
10.1.0.7 10.2.0.1 9 10.9.0.112
10.1.0.7 10.2.0.2 10 10.9.0.86
10.1.0.7 10.2.0.2 9 10.9.0.149
10.1.0.7 10.2.0.3 10 10.9.0.86
10.1.0.7 10.2.0.3 9 10.9.0.156
10.1.0.8 10.2.0.1 10 10.9.0.52
10.1.0.8 10.2.0.1 9 10.9.0.67
10.1.0.8 10.2.0.2 10 10.9.0.52
10.1.0.8 10.2.0.2 9 10.9.0.90
10.1.0.8 10.2.0.3 10 10.9.0.52
10.1.0.8 10.2.0.3 9 10.9.0.152
""";

    public static IEnumerable<object[]> KernelCases() =>
        KernelChoices.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' '))
            .Select(f => new object[] { f[0], f[1], ushort.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture), f[3] });

    [Theory]
    [MemberData(nameof(KernelCases))]
    public void DNAT_to_an_address_range_picks_the_kernels_address(string src, string dst, ushort dport, string expected)
    {
        var table = Table();
        var p = Udp(0, src, 5000, dst, dport);
        var ct = table.Process(p, Hook.Output);
        Assert.True(table.NeedsNat(ct, NatManipType.Destination));
        table.SetupNat(ct, NatManipType.Destination,
            new NatRange(A("10.9.0.1"), A("10.9.0.200"), null, null, Persistent: dport == 10));
        var outPacket = table.ApplyNat(ct, p, NatManipType.Destination);
        Assert.Equal(expected, outPacket.Ip!.Destination.ToString());
        Assert.Equal(A(expected), ct.Entry!.Reply.Source);
    }

    [Fact]
    public void DNAT_to_a_port_range_takes_the_first_free_port()
    {
        var table = Table();
        var range = new NatRange(A("10.9.0.1"), A("10.9.0.1"), 8000, 8010);
        ushort Dnat(string src)
        {
            var p = Udp(0, src, 5000, "10.2.0.1", 80);
            var ct = table.Process(p, Hook.Prerouting);
            table.SetupNat(ct, NatManipType.Destination, range);
            var outPacket = table.ApplyNat(ct, p, NatManipType.Destination);
            table.Confirm(ct, outPacket);
            return Ports(outPacket).Dst;
        }
        Assert.Equal(8000, Dnat("10.1.0.1"));
        Assert.Equal(8000, Dnat("10.1.0.2")); // a different client: its tuple is free on 8000 too
    }

    /// <summary>--to-destination 10.9.0.1:2000-2999/1000; the kernel (6.18, namespace) mapped 1080 to 2080 and 3500 to 2500.</summary>
    [Theory]
    [InlineData(1080, 2080)]
    [InlineData(3500, 2500)]
    public void DNAT_port_range_with_a_base_shifts_the_port(ushort dport, int expected)
    {
        var table = Table();
        var p = Udp(0, "10.1.0.1", 5000, "10.2.0.1", dport);
        var ct = table.Process(p, Hook.Prerouting);
        table.SetupNat(ct, NatManipType.Destination, new NatRange(A("10.9.0.1"), A("10.9.0.1"), 2000, 2999) { BasePort = 1000 });
        Assert.Equal(expected, Ports(table.ApplyNat(ct, p, NatManipType.Destination)).Dst);
    }

    [Fact]
    public void SNAT_keeps_the_source_port_when_free_and_in_range()
    {
        var table = Table();
        var p = Udp(0, "10.0.0.5", 40000, "192.0.2.1", 53);
        var ct = table.Process(p, Hook.Prerouting);
        table.SetupNat(ct, NatManipType.Source, new NatRange(A("203.0.113.1"), A("203.0.113.1"), 30000, 50000));
        Assert.Equal(40000, Ports(table.ApplyNat(ct, p, NatManipType.Source)).Src);
    }

    [Fact]
    public void SNAT_to_ports_moves_a_port_outside_the_range_into_it()
    {
        var table = Table();
        var p = Udp(0, "10.0.0.5", 40000, "192.0.2.1", 53);
        var ct = table.Process(p, Hook.Prerouting);
        table.SetupNat(ct, NatManipType.Source, new NatRange(A("203.0.113.1"), A("203.0.113.1"), 1000, 1009));
        Assert.InRange(Ports(table.ApplyNat(ct, p, NatManipType.Source)).Src, 1000, 1009);
    }

    [Fact]
    public void A_full_single_port_range_still_binds_and_the_clash_is_caught_at_confirm()
    {
        var table = Table();
        var range = new NatRange(A("203.0.113.1"), A("203.0.113.1"), 1000, 1000);
        var p1 = Udp(0, "10.0.0.5", 40000, "192.0.2.1", 53);
        var ct1 = table.Process(p1, Hook.Prerouting);
        table.SetupNat(ct1, NatManipType.Source, range);
        Assert.True(table.Confirm(ct1, table.ApplyNat(ct1, p1, NatManipType.Source)));
        var p2 = Udp(0.1, "10.0.0.6", 40000, "192.0.2.1", 53);
        var ct2 = table.Process(p2, Hook.Prerouting);
        table.SetupNat(ct2, NatManipType.Source, range);
        Assert.False(table.Confirm(ct2, table.ApplyNat(ct2, p2, NatManipType.Source)));
        Assert.Equal("conntrack: insert clash", ct2.DropReason);
    }

    [Fact]
    public void Null_binding_changes_nothing_and_marks_the_manip_done()
    {
        var table = Table();
        var p = Udp(0, "10.0.0.5", 40000, "192.0.2.1", 53);
        var ct = table.Process(p, Hook.Prerouting);
        table.SetupNullBinding(ct, NatManipType.Destination);
        table.SetupNullBinding(ct, NatManipType.Source);
        Assert.False(table.NeedsNat(ct, NatManipType.Destination));
        Assert.False(table.NeedsNat(ct, NatManipType.Source));
        Assert.Same(p, table.ApplyNat(ct, p, NatManipType.Source));
        Assert.Empty(ct.NatApplied);
        Assert.False(ct.Entry!.IsSnat || ct.Entry.IsDnat);
    }

    [Fact]
    public void REDIRECT_and_MASQUERADE_take_the_interfaces_address()
    {
        var eth0 = Router.Interface("eth0", "192.168.1.1/24", "192.168.1.2/24", "172.16.0.1/16");
        var ports = new NatRange(null, null, 3128, 3128);
        Assert.Equal(A("192.168.1.1"), NatTargets.Redirect(ports, Hook.Prerouting, eth0, Family.IPv4)!.MinAddress);
        Assert.Equal(A("127.0.0.1"), NatTargets.Redirect(ports, Hook.Output, null, Family.IPv4)!.MinAddress);
        Assert.Equal((ushort)3128, NatTargets.Redirect(ports, Hook.Prerouting, eth0, Family.IPv4)!.MinPort);
        Assert.Null(NatTargets.Redirect(ports, Hook.Prerouting, Router.Interface("eth9"), Family.IPv4));
        var any = new NatRange(null, null, null, null);
        // The primary address of the next hop's subnet; 192.168.1.2 is secondary and never chosen.
        Assert.Equal(A("172.16.0.1"), NatTargets.Masquerade(any, eth0, Family.IPv4, A("172.16.5.5"))!.MinAddress);
        Assert.Equal(A("192.168.1.1"), NatTargets.Masquerade(any, eth0, Family.IPv4, A("192.168.1.254"))!.MinAddress);
        Assert.Equal(A("192.168.1.1"), NatTargets.Masquerade(any, eth0, Family.IPv4, A("8.8.8.8"))!.MinAddress);
        Assert.Null(NatTargets.Masquerade(any, Router.Interface("eth9"), Family.IPv4, A("8.8.8.8")));
    }

    [Fact]
    public void NETMAP_keeps_the_host_part()
    {
        Cidr.TryParse("192.168.5.0/24", out var to);
        var r = NatTargets.Netmap(to, A("10.0.0.77"));
        Assert.Equal(A("192.168.5.77"), r.MinAddress);
        Assert.Equal(r.MinAddress, r.MaxAddress);
    }

    [Fact]
    public void IPv6_SNAT_rewrites_with_valid_checksums()
    {
        var table = Table();
        var p = Udp(0, "fd00::5", 40000, "2001:db8::53", 53);
        var ct = table.Process(p, Hook.Prerouting);
        table.SetupNat(ct, NatManipType.Source, new NatRange(A("2001:db8:1::1"), A("2001:db8:1::1"), null, null));
        var outPacket = table.ApplyNat(ct, p, NatManipType.Source);
        var again = Redecoded(outPacket);
        Assert.Equal(A("2001:db8:1::1"), again.Ip!.Source);
        Assert.True(again.Transport!.ChecksumValid);
    }
}
