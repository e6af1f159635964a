using System.Diagnostics;
using System.Globalization;
using Harness.Engine.Tests.Support;
using Harness.Net;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// ipset entry timeouts (sets created with timeout, SET --timeout, --exist refresh) and per-entry counters
/// (sets created with counters, --packets-*/--bytes-*, --update-counters), in the model and against the kernel.
/// </summary>
public partial class IpSetTests(ITestOutputHelper output)
{
    private const string Client = "198.51.100.7", Server = "10.0.0.10";

    private static Engine Build(string sets, string rules) =>
        Engine.Create(TestRules.Load($"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n"),
            null, TestHosts.Server(), new EngineOptions(Sets: IpSets.Parse(sets, "sets.txt")));

    private static ulong Hits(Engine e, int rule) => e.Counters.Get(Family.IPv4, "filter", "INPUT", rule).Packets;

    /// <summary>One UDP packet from the client (38 bytes of IP: 10 bytes of payload) at <paramref name="time"/> seconds.</summary>
    private static void Send(Engine e, double time, ushort dport, string src = Client, int payload = 10) =>
        e.Process(P.Udp(src, 5000, Server, dport, "eth0", 1, time, payload));

    private static LiveIpSetMember Member(Engine e, string set, double time) =>
        Assert.Single(e.LiveSets[set].MembersAt(Timestamp.FromSeconds(time)));

    // ---- parsing ----

    [Fact]
    public void Save_text_gives_timeouts_and_counters()
    {
        var sets = IpSets.Parse("""
            create t hash:ip family inet hashsize 1024 maxelem 65536 timeout 600 counters bucketsize 12 initval 0x1
            add t 192.0.2.1 timeout 4 packets 3 bytes 114
            add t 192.0.2.2 timeout 0 comment "two words"
            add t 192.0.2.3
            create p hash:ip family inet
            add p 192.0.2.9
            """, "sets.txt");
        var t = sets.Find("t")!;
        Assert.Equal((600u, true), (t.Timeout, t.Counters));
        Assert.Equal([(4u, 3ul, 114ul), (0u, 0ul, 0ul), ((uint?)null, 0ul, 0ul)],
            t.Entries.Select(e => (e.Timeout, e.Packets, e.Bytes)));
        var p = sets.Find("p")!;
        Assert.Equal(((uint?)null, false), (p.Timeout, p.Counters));
    }

    [Theory]
    [InlineData("create p hash:ip family inet\nadd p 192.0.2.1 timeout 5", "sets.txt:2", "without timeout support")]
    [InlineData("create p hash:ip family inet timeout 5\nadd p 192.0.2.1 packets 5 bytes 9", "sets.txt:2", "without counters")]
    [InlineData("create n hash:net family inet\nadd n 192.0.2.0/24 nomatch", "sets.txt:2", "nomatch")]
    [InlineData("create n hash:net family inet\nadd n 192.0.2.0/24 frobnicate 1", "sets.txt:2", "frobnicate")]
    [InlineData("create n hash:ip family inet hashsize 1024 maxelem 65536 netmask 24", "sets.txt:1", "netmask 24")]
    [InlineData("create n hash:ip family inet hashsize 1024 frobnicate", "sets.txt:1", "frobnicate")]
    public void Member_options_the_set_was_not_created_for_are_refused(string text, string where, string why)
    {
        var e = Assert.Throws<FormatException>(() => IpSets.Parse(text, "sets.txt"));
        Assert.Contains(where, e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Create_options_without_effect_on_membership_are_read()
    {
        var sets = IpSets.Parse("""
            create a hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1234abcd netmask 32 comment
            add a 192.0.2.1
            create p bitmap:port range 0-1024
            add p 22
            """, "sets.txt");
        Assert.Equal(["a", "p"], sets.Sets.Keys.Order());
    }

    // ---- timeouts ----

    [Fact]
    public void An_entry_added_with_timeout_2_matches_one_second_later_and_is_gone_three_seconds_later()
    {
        var e = Build("create seen hash:ip family inet timeout 600", """
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set seen src --timeout 2
            -A INPUT -m set --match-set seen src -j DROP
            """);
        Send(e, 100, 9);
        Assert.Equal(1ul, Hits(e, 2));
        Send(e, 101, 53);
        Send(e, 102, 53); // exactly at the expiry: still there
        Assert.Equal(3ul, Hits(e, 2));
        Send(e, 103, 53);
        Assert.Equal(3ul, Hits(e, 2));
        Assert.Empty(e.LiveSets["seen"].MembersAt(Timestamp.FromSeconds(103)));
    }

    [Fact]
    public void Without_timeout_on_the_target_the_sets_default_applies_and_timeout_0_is_permanent()
    {
        var e = Build("create d hash:ip family inet timeout 5\ncreate z hash:ip family inet timeout 5", """
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set d src
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set z src --timeout 0
            -A INPUT -m set --match-set d src
            -A INPUT -m set --match-set z src
            """);
        Send(e, 10, 9);
        Assert.Equal(Timestamp.FromSeconds(15), Member(e, "d", 15).Expires);
        Assert.Null(Member(e, "z", 15).Expires);
        Send(e, 15.5, 53);
        Assert.Equal((1ul, 2ul), (Hits(e, 3), Hits(e, 4)));
    }

    [Fact]
    public void Saved_entry_timeouts_count_from_the_captures_first_packet()
    {
        var e = Build("create s hash:ip family inet timeout 600\nadd s 198.51.100.7 timeout 5\nadd s 198.51.100.8", """
            -A INPUT -p udp -m udp --dport 53 -m set --match-set s src -j DROP
            """);
        Send(e, 100, 9); // the clock starts here, though no rule looks at the set
        Send(e, 104.9, 53);
        Send(e, 104.9, 53, "198.51.100.8");
        Assert.Equal(2ul, Hits(e, 1));
        Send(e, 105.1, 53);
        Assert.Equal(2ul, Hits(e, 1));
        Send(e, 699, 53, "198.51.100.8"); // the set's default, 600 s, for the member saved without one
        Send(e, 701, 53, "198.51.100.8");
        Assert.Equal(3ul, Hits(e, 1));
    }

    [Fact]
    public void Exist_refreshes_the_timeout_and_restarts_the_counters_without_it_the_entry_is_left_alone()
    {
        var e = Build("create r hash:ip family inet timeout 600 counters\ncreate k hash:ip family inet timeout 600 counters", """
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set r src --exist --timeout 2
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set k src --timeout 2
            -A INPUT -p udp -m udp --dport 10 -m set --match-set r src
            -A INPUT -p udp -m udp --dport 10 -m set --match-set k src
            """);
        Send(e, 0, 9);
        Send(e, 0.1, 10);
        Assert.Equal((2ul, 76ul), (Member(e, "r", 0.1).Packets, Member(e, "r", 0.1).Bytes));
        Send(e, 1.2, 9, payload: 20); // r: back to this one packet of 48 bytes, 2 s from now; k: unchanged
        Assert.Equal((1ul, 48ul, Timestamp.FromSeconds(3.2)), (Member(e, "r", 1.2).Packets, Member(e, "r", 1.2).Bytes, Member(e, "r", 1.2).Expires));
        Assert.Equal((2ul, 76ul, Timestamp.FromSeconds(2)), (Member(e, "k", 1.2).Packets, Member(e, "k", 1.2).Bytes, Member(e, "k", 1.2).Expires));
        Send(e, 2.5, 10);
        Assert.Equal((2ul, 1ul), (Hits(e, 3), Hits(e, 4)));
        Send(e, 3.5, 10);
        Assert.Equal((2ul, 1ul), (Hits(e, 3), Hits(e, 4)));
        Send(e, 3.6, 9); // both expired: added anew
        Assert.Equal((1ul, 1ul), (Member(e, "r", 3.6).Packets, Member(e, "k", 3.6).Packets));
    }

    /// <summary>
    /// Seen in a namespace (kernel 6.18, ipset 7.17): with 10.0.0.0/8 and 192.168.1.0/24 in a hash:net set,
    /// SET --add-set of 172.16.5.5 added 172.16.5.0/24; into an empty one it added the host; into a hash:net,port set
    /// holding a /8 and a /20 it added 172.16.0.0/20,udp:9.
    /// </summary>
    [Fact]
    public void Set_adds_to_a_net_dimension_under_the_longest_prefix_its_members_use()
    {
        var e = Build("""
            create s hash:net family inet
            add s 10.0.0.0/8
            add s 192.168.1.0/24
            create empty hash:net family inet
            create np hash:net,port family inet
            add np 10.0.0.0/8,udp:53
            add np 10.1.0.0/20,tcp:80
            """, """
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set s src
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set empty src
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set np src,dst
            -A INPUT -p udp -m udp --dport 11 -j SET --del-set s src
            """);
        Send(e, 0, 9, src: "172.16.5.5");
        var now = Timestamp.FromSeconds(0);
        Assert.Equal(["10.0.0.0/8", "192.168.1.0/24", "172.16.5.0/24"], e.LiveSets["s"].MembersAt(now).Select(m => Text(m.Element)));
        Assert.Equal(["172.16.5.5/32"], e.LiveSets["empty"].MembersAt(now).Select(m => Text(m.Element)));
        Assert.Equal(["10.0.0.0/8 17:53", "10.1.0.0/20 6:80", "172.16.0.0/20 17:9"], e.LiveSets["np"].MembersAt(now).Select(m => Text(m.Element)));
        // The delete masks the same way: 172.16.5.77 takes the /24 out.
        Send(e, 1, 11, src: "172.16.5.77");
        Assert.Equal(["10.0.0.0/8", "192.168.1.0/24"], e.LiveSets["s"].MembersAt(Timestamp.FromSeconds(1)).Select(m => Text(m.Element)));

        static string Text(IpSetEntry entry) =>
            string.Join(",", entry.Networks.Select(n => n.ToString())) + (entry.Protocol == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $" {entry.Protocol}:{entry.Port}"));
    }

    [Fact]
    public void Timeout_on_a_set_without_timeouts_is_ignored_as_the_kernel_ignores_it()
    {
        var e = Build("create plain hash:ip family inet", """
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set plain src --timeout 1
            -A INPUT -m set --match-set plain src -j DROP
            """);
        Send(e, 0, 9);
        Send(e, 1000, 53);
        Assert.Equal(2ul, Hits(e, 2));
        Assert.Null(Member(e, "plain", 1000).Expires);
    }

    [Fact]
    public void Timeouts_beyond_the_kernels_limit_are_capped()
    {
        var e = Build("create m hash:ip family inet timeout 5", "-A INPUT -j SET --add-set m src --timeout 4000000000");
        Send(e, 0, 9);
        Assert.Equal(Timestamp.FromSeconds(LiveIpSet.MaxTimeout), Member(e, "m", 0).Expires);
        Assert.Equal(2_147_483u, LiveIpSet.MaxTimeout);
    }

    // ---- counters ----

    [Fact]
    public void Counters_count_every_lookup_that_finds_the_entry_and_the_tests_see_the_count_with_this_packet()
    {
        var e = Build("create cnt hash:ip family inet counters", """
            -A INPUT -p udp -m udp --dport 9 -j SET --add-set cnt src
            -A INPUT -p udp -m udp --dport 9 -m set --match-set cnt src --packets-gt 2
            -A INPUT -p udp -m udp --dport 9 -m set --match-set cnt src ! --update-counters
            -A INPUT -p udp -m udp --dport 9 -m set --match-set cnt src --packets-eq 3
            """);
        Send(e, 0, 9);
        Assert.Equal((3ul, 114ul), (Member(e, "cnt", 0).Packets, Member(e, "cnt", 0).Bytes));
        Assert.Equal([1ul, 0ul, 1ul, 1ul], Enumerable.Range(1, 4).Select(r => Hits(e, r)));
        for (int i = 1; i <= 3; i++) Send(e, i, 9);
        Assert.Equal((9ul, 342ul), (Member(e, "cnt", 3).Packets, Member(e, "cnt", 3).Bytes));
        Assert.Equal([4ul, 3ul, 4ul, 1ul], Enumerable.Range(1, 4).Select(r => Hits(e, r)));
    }

    [Fact]
    public void Failed_counter_tests_mean_not_in_the_set_and_negation_turns_that_into_a_match()
    {
        var e = Build("create q hash:ip family inet counters\nadd q 198.51.100.7 packets 5 bytes 100", """
            -A INPUT -p udp -m set ! --match-set q src --packets-gt 6
            -A INPUT -p udp -m set --match-set q src ! --packets-eq 8
            -A INPUT -p udp -m set --match-set q src --bytes-lt 300
            -A INPUT -p udp -m set --match-set q src --packets-lt 12 --bytes-gt 200
            -A INPUT -p udp -m set --match-set q src ! --update-counters --bytes-eq 0
            """);
        for (int i = 0; i < 3; i++) Send(e, i, 11);
        Assert.Equal([1ul, 3ul, 1ul, 1ul, 0ul], Enumerable.Range(1, 5).Select(r => Hits(e, r)));
        Assert.Equal((17ul, 556ul), (Member(e, "q", 2).Packets, Member(e, "q", 2).Bytes));
    }

    [Fact]
    public void Counter_tests_on_a_set_without_counters_are_ignored()
    {
        var e = Build("create plain hash:ip family inet\nadd plain 198.51.100.7", """
            -A INPUT -m set --match-set plain src --packets-gt 100
            -A INPUT -m set ! --match-set plain src --bytes-eq 5
            """);
        Send(e, 0, 53);
        Assert.Equal((1ul, 0ul), (Hits(e, 1), Hits(e, 2)));
        Assert.Equal(0ul, Member(e, "plain", 0).Packets);
    }

    [Fact]
    public void A_packets_gt_threshold_lets_the_first_n_packets_of_a_source_through()
    {
        var e = Build("create seen hash:ip family inet timeout 60 counters", """
            -A INPUT -p udp -m set --match-set seen src --packets-gt 3 -j DROP
            -A INPUT -p udp -m set ! --match-set seen src ! --update-counters -j SET --add-set seen src
            """);
        // The add counts the first packet; the second rule's lookup must not count (else each packet counts twice).
        var verdicts = Enumerable.Range(0, 6)
            .Select(i => e.Process(P.Udp(Client, 5000, Server, 53, "eth0", i + 1, i * 0.1))[0].Disposition).ToList();
        Assert.Equal([Disposition.Delivered, Disposition.Delivered, Disposition.Delivered, Disposition.Dropped, Disposition.Dropped, Disposition.Dropped], verdicts);
        // Past the entry's 60 s the source starts over.
        Assert.Equal(Disposition.Delivered, e.Process(P.Udp(Client, 5000, Server, 53, "eth0", 7, 61))[0].Disposition);
    }

    [Fact]
    public void Overlapping_networks_are_tried_most_specific_first_and_a_failed_test_falls_back_to_the_wider_one()
    {
        var e = Build("create n hash:net family inet counters\nadd n 198.51.100.0/24\nadd n 198.51.100.0/28", """
            -A INPUT -m set --match-set n src --packets-lt 3
            """);
        for (int i = 0; i < 4; i++) Send(e, i, 53);
        var members = e.LiveSets["n"].MembersAt(Timestamp.FromSeconds(3));
        // /28 counts 1, 2 (matches), 3 (fails, so /24 is tried: 1, matches), 4 (fails; /24: 2, matches). The kernel (6.18,
        // the same set and rule in a namespace, 4 packets) ends with /28 packets 4 bytes 152, /24 packets 2 bytes 76, 4 hits.
        Assert.Equal([("198.51.100.0/24", 2ul), ("198.51.100.0/28", 4ul)],
            members.Select(m => (m.Element.Networks[0].ToString(), m.Packets)));
        Assert.Equal(4ul, Hits(e, 1));
    }

    // ---- the kernel ----

    /// <summary>The packets of the kernel check: (seconds from the start, destination port, UDP payload bytes).</summary>
    private static readonly (double Time, ushort Port, int Payload)[] KernelSequence =
    [
        (0.0, 9, 10), (0.1, 10, 10), (0.2, 7, 10), (1.0, 8, 20), (2.5, 10, 10), (2.6, 7, 10), (4.0, 10, 10), (4.1, 9, 10),
        (4.2, 7, 10), (4.3, 11, 10), (4.4, 11, 10), (4.5, 11, 10),
    ];

    private const string KernelSets = """
        create seen hash:ip family inet timeout 600 counters
        create quota hash:ip family inet counters
        add quota 10.0.0.5 packets 5 bytes 100
        create plain hash:ip family inet
        """;

    private const string KernelRules = """
        -A INPUT -p udp -m udp --dport 9 -j SET --add-set seen src --timeout 2
        -A INPUT -p udp -m udp --dport 8 -j SET --add-set seen src --exist --timeout 2
        -A INPUT -p udp -m udp --dport 10 -m set --match-set seen src
        -A INPUT -p udp -m set --match-set seen src --packets-gt 3
        -A INPUT -p udp -m udp --dport 11 -m set ! --match-set quota src --packets-gt 6
        -A INPUT -p udp -m udp --dport 11 -m set --match-set quota src ! --update-counters --bytes-lt 300
        -A INPUT -p udp -j SET --add-set plain src --timeout 1
        -A INPUT -p udp -m set --match-set plain src --packets-gt 100
        -A INPUT -p udp -m udp --dport 7 -m set --match-set seen src ! --packets-eq 2
        """;

    [Fact]
    public void Kernel_set_timeouts_exist_refresh_and_counters_end_as_the_model_says()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "ipset", "python3")) { output.WriteLine(why); return; }
        var kernel = RunKernel();
        output.WriteLine(kernel);
        var kernelHits = kernel.Split('\n').Where(l => l.StartsWith("rule ", StringComparison.Ordinal)).ToList();
        var kernelMembers = kernel.Split('\n').Where(l => l.StartsWith("add ", StringComparison.Ordinal))
            .Select(l => TimeoutWord().Replace(l, "")).ToList();

        const string client = "10.0.0.5";
        var e = Build(KernelSets, KernelRules);
        foreach (var (time, port, payload) in KernelSequence) Send(e, 50 + time, port, client, payload);
        var modelHits = Enumerable.Range(1, 9)
            .Select(r => string.Create(CultureInfo.InvariantCulture, $"rule {r} {Hits(e, r)}")).ToList();
        var end = Timestamp.FromSeconds(50 + KernelSequence[^1].Time);
        var modelMembers = new List<string>();
        foreach (var (name, set) in e.LiveSets)
            foreach (var m in set.MembersAt(end))
                modelMembers.Add(set.Definition.Counters
                    ? string.Create(CultureInfo.InvariantCulture, $"add {name} {m.Element.Networks[0].Address} packets {m.Packets} bytes {m.Bytes}")
                    : $"add {name} {m.Element.Networks[0].Address}");
        output.WriteLine("model:\n" + string.Join('\n', modelHits.Concat(modelMembers)));

        Assert.Equal(modelHits, kernelHits);
        Assert.Equal(modelMembers.Order(StringComparer.Ordinal), kernelMembers.Order(StringComparer.Ordinal));
        // What the sequence is built to show: the refresh at 1.0 kept the entry for 2.5, it was gone at 4.0.
        Assert.Equal("rule 3 2", kernelHits[2]);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@" timeout \d+")]
    private static partial System.Text.RegularExpressions.Regex TimeoutWord();

    private static int counter;

    /// <summary>
    /// Two throwaway namespaces (hx-ipset-PID-N-c / -s, always deleted): the client sends the sequence, paced by its
    /// times, to the server whose INPUT holds the rules; prints "rule N PACKETS" per rule and the `ipset save` lines.
    /// </summary>
    private static string RunKernel()
    {
        var prefix = $"hx-ipset-{Environment.ProcessId}-{Interlocked.Increment(ref counter)}";
        var sends = string.Join(",", KernelSequence.Select(s => string.Create(CultureInfo.InvariantCulture, $"({s.Time},{s.Port},{s.Payload})")));
        var rules = string.Join('\n', KernelRules.Split('\n').Select(l => "iptables " + l.Trim()));
        var script = $$"""
            P={{prefix}}
            cleanup() { ip netns del $P-c 2>/dev/null; ip netns del $P-s 2>/dev/null; true; }
            trap cleanup EXIT
            set -e
            ip netns add $P-c; ip netns add $P-s
            ip link add c0 netns $P-c type veth peer name eth0 netns $P-s
            ip netns exec $P-c sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up; ip link set c0 up; ip addr add 10.0.0.5/24 dev c0'
            ip netns exec $P-s sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up; ip link set eth0 up; ip addr add 10.0.0.10/24 dev eth0'
            ip netns exec $P-s ipset restore <<'EOF'
            {{KernelSets}}
            EOF
            ip netns exec $P-s sh -e <<'EOF'
            {{rules}}
            EOF
            ip netns exec $P-c python3 -c '
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.0.0.5", 5000))
            t0 = time.monotonic()
            for at, port, size in [{{sends}}]:
                time.sleep(max(0, t0 + at - time.monotonic()))
                s.sendto(b"x" * size, ("10.0.0.10", port))
            '
            sleep 0.1
            ip netns exec $P-s iptables -L INPUT -v -n -x | tail -n +3 | awk '{print "rule", NR, $1}'
            ip netns exec $P-s ipset save | grep '^add '
            """;
        return KernelShell.Script(script);
    }
}
