using System.Diagnostics;
using System.Globalization;
using Harness.Engine.Tests.Support;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// -m hashlimit byte mode and --hashlimit-rate-match: packet sequences with timestamps against the model, and one
/// check of the same sequences against the real kernel in throwaway namespaces (hx-hl-PID-N, always deleted; skipped
/// with the reason printed without root, ip, iptables-restore or python3).
/// </summary>
public class HashlimitTests(ITestOutputHelper output)
{
    private const string Server = "10.0.0.10";

    /// <summary>An engine whose INPUT (policy DROP) accepts what the given hashlimit options match.</summary>
    private static Engine Input(params string[] hashlimits)
    {
        var rules = string.Join("\n", hashlimits.Select(h => "-A INPUT -p udp -m hashlimit " + h + " -j ACCEPT"));
        return Engine.Create(TestRules.Load("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" + rules + "\nCOMMIT\n"),
            null, TestHosts.Server(), EngineOptions.Default);
    }

    private static long number;

    /// <summary>A UDP packet of <paramref name="size"/> bytes of IP (header included) to the server.</summary>
    private static Packet Udp(double time, int size, string src = "198.51.100.7", ushort dport = 9000) =>
        P.Udp(src, 40000, Server, dport, "eth0", Interlocked.Increment(ref number), time, payload: size - 28);

    private static bool Matched(Engine e, Packet p) => e.Process(p)[0].Disposition == Disposition.Delivered;

    /// <summary>n packets spread evenly over <paramref name="span"/> seconds from <paramref name="start"/>.</summary>
    private static List<bool> Burst(Engine e, int n, int size, double start = 1.0, double span = 0.010, string src = "198.51.100.7") =>
        Enumerable.Range(0, n).Select(i => Matched(e, Udp(start + span * i / n, size, src))).ToList();

    private static List<bool> Run(int yes, int no) => [.. Enumerable.Repeat(true, yes), .. Enumerable.Repeat(false, no)];

    // ---- byte mode ----

    [Fact]
    public void A_full_table_drops_a_packet_of_a_new_key_on_the_spot_until_an_entry_expires()
    {
        // Two entries at most (the kernel never lets max fall below the size, 8,192 unless given, so both are given):
        // a third source finds no room (dsthash_alloc_init fails) and hashlimit_mt drops the packet (hotdrop); the rule
        // and the policy do not count it. Once an idle entry expires there is room.
        var e = Input("--hashlimit-upto 100/sec --hashlimit-mode srcip --hashlimit-name full --hashlimit-htable-size 2 --hashlimit-htable-max 2 --hashlimit-htable-expire 1000");
        Assert.True(Matched(e, Udp(1.0, 100, "198.51.100.1")));
        Assert.True(Matched(e, Udp(1.1, 100, "198.51.100.2")));
        var third = e.Process(Udp(1.2, 100, "198.51.100.3"))[0];
        Assert.Equal((Disposition.Dropped, Hook.Input), (third.Disposition, third.DroppedAt));
        Assert.Null(third.DecidingRule);
        Assert.StartsWith("hashlimit: table \"full\" is full", third.Reason);
        Assert.Equal(0UL, e.Counters.Policy(Harness.Net.Family.IPv4, "filter", "INPUT").Packets);
        Assert.Equal(2UL, e.Counters.Get(Harness.Net.Family.IPv4, "filter", "INPUT", 1).Packets);
        Assert.True(Matched(e, Udp(1.3, 100, "198.51.100.1"))); // a known key still has its entry
        Assert.True(Matched(e, Udp(2.25, 100, "198.51.100.3"))); // 198.51.100.2 idle since 1.1 s: expired at 2.1 s
    }

    [Fact]
    public void Byte_mode_without_burst_admits_one_second_of_credit()
    {
        // 10kb/s: a 1000-byte packet is 63 chunks of 16 bytes; one second of credit pays for 10 of them (10.17)
        var e = Input("--hashlimit-upto 10kb/s --hashlimit-name t");
        Assert.Equal(Run(10, 10), Burst(e, 20, 1000));
    }

    [Fact]
    public void Byte_mode_burst_is_a_count_of_whole_second_refills()
    {
        // burst 20kb = 2 seconds of 10kb/s: the credit is set back to a full second twice, so 3 × 10 packets pass
        var e = Input("--hashlimit-upto 10kb/s --hashlimit-burst 20kb --hashlimit-name t");
        Assert.Equal(Run(20, 0), Burst(e, 20, 1000));
        e = Input("--hashlimit-upto 10kb/s --hashlimit-burst 20kb --hashlimit-name t");
        Assert.Equal(Run(30, 10), Burst(e, 40, 1000));
        // 15000b rounds up to 2 refills as well
        e = Input("--hashlimit-upto 10kb/s --hashlimit-burst 15000b --hashlimit-name t");
        Assert.Equal(Run(30, 10), Burst(e, 40, 1000));
        // the refills are not given back: a second burst 5 s later gets one second of credit only
        Assert.Equal(Run(10, 10), Burst(e, 20, 1000, start: 6.0));
    }

    [Fact]
    public void Byte_mode_credit_refills_with_time_and_caps_at_one_second()
    {
        var e = Input("--hashlimit-upto 10kb/s --hashlimit-name t --hashlimit-htable-expire 60000");
        Assert.Equal(Run(10, 0), Burst(e, 10, 1000));
        // left: 71,977,750 credits; a packet costs 412,232,625; 100 ms brings 419,430,400
        Assert.False(Matched(e, Udp(1.020, 1000)));
        Assert.True(Matched(e, Udp(1.110, 1000)));
        Assert.False(Matched(e, Udp(1.111, 1000)));
        // ten idle seconds refill one second only
        Assert.Equal(Run(10, 10), Burst(e, 20, 1000, start: 11.0));
    }

    [Fact]
    public void Byte_mode_cost_counts_16_byte_chunks_of_the_ip_length()
    {
        // 1000b/s is 992 b/s to the kernel; a second of credit pays 63 chunks: two of 496 bytes (32 chunks) are too many, two of 495 (31) are not
        var e = Input("--hashlimit-upto 1000b/s --hashlimit-name t");
        Assert.Equal(Run(1, 1), Burst(e, 2, 496));
        e = Input("--hashlimit-upto 1000b/s --hashlimit-name t");
        Assert.Equal(Run(2, 1), Burst(e, 3, 495));
    }

    [Fact]
    public void Byte_mode_packet_bigger_than_a_second_costs_one_second()
    {
        // 1500 bytes at 1000b/s would cost 1.5 s; the kernel caps a packet's cost at the full credit
        var e = Input("--hashlimit-upto 1000b/s --hashlimit-name t");
        Assert.Equal(Run(1, 2), Burst(e, 3, 1500));
        Assert.True(Matched(e, Udp(2.5, 1500)));
    }

    [Fact]
    public void Byte_mode_above_matches_what_upto_would_not()
    {
        var e = Input("--hashlimit-above 10kb/s --hashlimit-name t");
        Assert.Equal(Run(0, 10).Concat(Run(10, 0)), Burst(e, 20, 1000));
        e = Input("! --hashlimit-above 10kb/s --hashlimit-name t");
        Assert.Equal(Run(10, 10), Burst(e, 20, 1000));
    }

    [Fact]
    public void Byte_mode_keys_on_masked_sources()
    {
        // srcip /32: two buckets of 4 × 500 bytes at 2kb/s; srcmask 24: one bucket for both
        var e = Input("--hashlimit-upto 2kb/s --hashlimit-mode srcip --hashlimit-name t");
        var two = Enumerable.Range(0, 12).Select(i => Matched(e, Udp(1 + i * 0.0005, 500, i % 2 == 0 ? "10.0.0.5" : "10.0.0.6"))).Count(m => m);
        e = Input("--hashlimit-upto 2kb/s --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name t");
        var one = Enumerable.Range(0, 12).Select(i => Matched(e, Udp(1 + i * 0.0005, 500, i % 2 == 0 ? "10.0.0.5" : "10.0.0.6"))).Count(m => m);
        Assert.Equal(8, two);
        Assert.Equal(4, one);
    }

    [Fact]
    public void Byte_mode_keys_on_masked_destinations_when_forwarding()
    {
        var rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m hashlimit --hashlimit-upto 2kb/s --hashlimit-mode dstip --hashlimit-dstmask 31 --hashlimit-name t -j ACCEPT
            COMMIT
            """;
        var e = Engine.Create(TestRules.Load(rules), null, TestHosts.Router(), EngineOptions.Default);
        int Count(string dst, double t0) => Enumerable.Range(0, 6)
            .Count(i => e.Process(P.Udp("198.51.100.7", 40000, dst, 53, "eth0", i + 1, t0 + i * 0.001, payload: 472))[0].Disposition == Disposition.Forwarded);
        Assert.Equal(4, Count("192.168.1.4", 1.0));
        Assert.Equal(0, Count("192.168.1.5", 1.01)); // same /31: the bucket is empty
        Assert.Equal(4, Count("192.168.1.6", 1.02)); // the next /31 has its own
    }

    [Fact]
    public void Byte_mode_counts_the_ipv6_length_with_its_header()
    {
        var rules = """
            *filter
            :INPUT DROP [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m hashlimit --hashlimit-upto 1000b/s --hashlimit-mode srcip --hashlimit-srcmask 64 --hashlimit-name t -j ACCEPT
            COMMIT
            """;
        var e = Engine.Create(null, TestRules.Load(rules, Family.IPv6), TestHosts.Router(), EngineOptions.Default);
        // 40 + 8 + 448 = 496 bytes = 32 chunks: one per second of 63 chunks; ::2 shares ::1's /64
        bool Send(string src, double t) => e.Process(P.Udp(src, 40000, "2001:db8:1::1", 53, "eth0", 1, t, payload: 448))[0].Disposition == Disposition.Delivered;
        Assert.True(Send("2001:db8:9::1", 1.0));
        Assert.False(Send("2001:db8:9::2", 1.001));
        Assert.True(Send("2001:db8:8::1", 1.002));
    }

    [Fact]
    public void Byte_burst_below_one_second_of_rate_is_refused_like_iptables()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Input("--hashlimit-upto 10kb/s --hashlimit-burst 5kb --hashlimit-name t"));
        Assert.Contains("burst cannot be smaller than 10240b", ex.Message);
    }

    // ---- rate-match ----

    [Fact]
    public void Rate_match_packets_allow_burst_plus_rate_per_window_then_judge_the_closed_window()
    {
        // 10/sec burst 5: 15 packets per 1 s window; a window closed at 1.5 s with 40 packets was over (40/1.5 s > 10/s),
        // so the next window matches nothing; that one (10 packets over 1.5 s) was not, so the third matches again
        var e = Input("--hashlimit-upto 10/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-htable-expire 10000 --hashlimit-rate-match");
        Assert.Equal(Run(15, 25), Burst(e, 40, 100));
        Assert.Equal(Run(0, 10), Burst(e, 10, 100, start: 2.5));
        Assert.Equal(Run(10, 0), Burst(e, 10, 100, start: 4.0));
    }

    [Fact]
    public void Rate_match_window_lasts_the_interval()
    {
        // 100/min: interval 60 s, 105 packets per window; packets 30 s later still count in the same window
        var e = Input("--hashlimit-upto 100/min --hashlimit-name t --hashlimit-rate-match");
        Assert.Equal(Run(100, 0), Burst(e, 100, 100));
        Assert.Equal(Run(5, 5), Burst(e, 10, 100, start: 31.0));
        // --hashlimit-rate-interval 5: 100 per 5 s; the window closed at 7 s held 130 packets over 6 s (over 120)
        e = Input("--hashlimit-upto 100/min --hashlimit-name t --hashlimit-rate-match --hashlimit-rate-interval 5");
        Assert.Equal(Run(100, 0), Burst(e, 100, 100));
        Assert.Equal(Run(5, 25), Burst(e, 30, 100, start: 4.0));
        Assert.Equal(Run(0, 3), Burst(e, 3, 100, start: 7.0));
        // the window from 7 s held 3 packets: under; 105 of the next ones match again
        Assert.Equal(Run(105, 1), Burst(e, 106, 100, start: 12.5));
    }

    [Fact]
    public void Rate_match_bytes_sum_the_lengths_against_the_rate_or_burst()
    {
        // 8kb/s above: 8192 bytes per 1 s window are under; the 9th 1000-byte packet is above
        var e = Input("--hashlimit-above 8kb/s --hashlimit-name t --hashlimit-rate-match");
        Assert.Equal(Run(0, 8).Concat(Run(12, 0)), Burst(e, 20, 1000));
        Assert.Equal(Run(5, 0), Burst(e, 5, 1000, start: 2.5)); // previous window over
        Assert.Equal(Run(0, 5), Burst(e, 5, 1000, start: 4.0)); // 5000 bytes over 1.5 s: under
        // burst 16kb: two seconds of rate per window
        e = Input("--hashlimit-upto 8kb/s --hashlimit-burst 16kb --hashlimit-name t --hashlimit-rate-match");
        Assert.Equal(Run(16, 4), Burst(e, 20, 1000));
    }

    [Fact]
    public void Rate_match_keys_on_sources()
    {
        var e = Input("--hashlimit-upto 2/sec --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name t --hashlimit-rate-match");
        Assert.Equal(Run(3, 1), Burst(e, 4, 100, src: "10.0.0.5"));
        Assert.Equal(Run(3, 1), Burst(e, 4, 100, src: "10.0.0.6"));
    }

    // ---- table and defaults ----

    [Fact]
    public void Packet_mode_expiry_defaults_to_the_rate_unit()
    {
        // 1/sec burst 5: the entry expires 1 s after its last packet, so 2.5 s later the bucket is full again
        var e = Input("--hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name t");
        Assert.Equal(Run(5, 5), Burst(e, 10, 100));
        Assert.Equal(Run(5, 5), Burst(e, 10, 100, start: 3.5));
        // kept for 10 s, it has refilled 2.5 tokens only
        e = Input("--hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-htable-expire 10000");
        Assert.Equal(Run(5, 5), Burst(e, 10, 100));
        Assert.Equal(Run(2, 8), Burst(e, 10, 100, start: 3.5));
    }

    [Fact]
    public void Rules_sharing_a_table_use_the_first_rules_rate()
    {
        // rule 2 says 100kb/s (102 packets of 1000 bytes) but rule 1, which our packets never reach, made the table: 10kb/s
        var rules = """
            *filter
            :INPUT DROP [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 1 -m hashlimit --hashlimit-upto 10kb/s --hashlimit-name shared -j ACCEPT
            -A INPUT -p udp -m hashlimit --hashlimit-upto 100kb/s --hashlimit-name shared -j ACCEPT
            COMMIT
            """;
        var e = Engine.Create(TestRules.Load(rules), null, TestHosts.Server(), EngineOptions.Default);
        Assert.Equal(Run(10, 10), Burst(e, 20, 1000));
        Assert.Equal(10UL, e.Counters.Get(Family.IPv4, "filter", "INPUT", 2).Packets);
    }

    /// <summary>An engine whose INPUT (policy DROP) accepts UDP to each port the hashlimit options given for it match.</summary>
    private static Engine Ports(params (int Port, string Options)[] rules) =>
        Engine.Create(TestRules.Load("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + string.Join("\n", rules.Select(r => $"-A INPUT -p udp -m udp --dport {r.Port} -m hashlimit {r.Options} -j ACCEPT"))
            + "\nCOMMIT\n"), null, TestHosts.Server(), EngineOptions.Default);

    private static List<bool> PortBurst(Engine e, ushort port, int n, int size, double start, double span = 0.010) =>
        Enumerable.Range(0, n).Select(i => Matched(e, Udp(start + span * i / n, size, dport: port))).ToList();

    [Fact]
    public void Rate_match_and_other_rules_sharing_a_table_are_refused_like_the_kernel()
    {
        // 6.18 refuses the second rule with EINVAL either way round; other families' tables are separate
        var ex = Assert.Throws<EngineSetupException>(() => Input("--hashlimit-upto 10/sec --hashlimit-name x", "--hashlimit-upto 10/sec --hashlimit-name x --hashlimit-rate-match"));
        Assert.Contains("kernel refuses the rule", ex.Message);
        ex = Assert.Throws<EngineSetupException>(() => Input("--hashlimit-upto 10kb/s --hashlimit-name x --hashlimit-rate-match", "--hashlimit-upto 10kb/s --hashlimit-name x"));
        Assert.Contains("rate-match and a non-rate-match", ex.Message);
    }

    [Fact]
    public void A_packets_rule_on_a_byte_table_pays_one_chunk_a_packet_from_the_shared_credit()
    {
        // 1kb/s: a chunk costs 64,527,752 of the 4,194,304,000 second of credit: 65 packets; then a 100-byte packet
        // (7 chunks) through the bytes rule finds the credit spent and no refills (no burst)
        var e = Ports((1, "--hashlimit-upto 1kb/s --hashlimit-name m"), (2, "--hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name m"));
        Assert.Equal(Run(65, 15), PortBurst(e, 2, 80, 100, 1.0));
        Assert.False(Matched(e, Udp(1.02, 100, dport: 1)));
        // a second later the credit is full again: the bytes rule admits 1 kB of 100-byte packets (112 bytes of chunks each)
        Assert.Equal(Run(9, 3), PortBurst(e, 1, 12, 100, 2.1));
    }

    [Fact]
    public void A_bytes_rule_on_a_packet_table_resets_short_credit_to_a_second_of_bytes()
    {
        // the packets rule spends its burst; the bytes rule finds less than its cost, takes one off the (huge) credit_cap
        // and sets the credit to a second of byte credit, so it passes every time; the packets rule then has less than
        // a packet's cost (a second of byte credit is 1/32,768 of one 10/sec packet)
        var e = Ports((1, "--hashlimit-upto 10/sec --hashlimit-burst 5 --hashlimit-name m"), (2, "--hashlimit-upto 1kb/s --hashlimit-name m"));
        Assert.Equal(Run(5, 5), PortBurst(e, 1, 10, 100, 1.0, span: 0.001));
        Assert.Equal(Run(20, 0), PortBurst(e, 2, 20, 1000, 1.001, span: 0.001));
        Assert.False(Matched(e, Udp(1.0021, 100, dport: 1)));
        Assert.True(Matched(e, Udp(1.2, 100, dport: 1))); // 0.2 s refills two packets
        Assert.Equal((6UL, 20UL), (e.Counters.Get(Family.IPv4, "filter", "INPUT", 1).Packets, e.Counters.Get(Family.IPv4, "filter", "INPUT", 2).Packets));
    }

    [Fact]
    public void Rate_match_rules_of_both_kinds_share_one_count_against_the_tables_burst()
    {
        // the table is 10kb/s rate-match bytes (burst = rate = 10,240 bytes); the packets rule counts 1 a packet
        var e = Ports((1, "--hashlimit-upto 10kb/s --hashlimit-name m --hashlimit-rate-match"), (2, "--hashlimit-upto 10/sec --hashlimit-name m --hashlimit-rate-match"));
        Assert.Equal(Run(20, 0), PortBurst(e, 2, 20, 100, 1.0));
        Assert.Equal(Run(10, 2), PortBurst(e, 1, 12, 1000, 1.02));
        // reversed: a 10/sec rate-match packets table (burst 5 + 10 = 15); a 100-byte packet through the bytes rule adds 100
        e = Ports((1, "--hashlimit-upto 10/sec --hashlimit-burst 5 --hashlimit-name m --hashlimit-rate-match"), (2, "--hashlimit-upto 10kb/s --hashlimit-name m --hashlimit-rate-match"));
        Assert.False(Matched(e, Udp(1.0, 100, dport: 2)));
        Assert.False(Matched(e, Udp(1.001, 100, dport: 1)));
    }

    // ---- against the kernel ----

    /// <summary>The kernel check: each port's rule, the packets the sender sends to it, and the count both must give.</summary>
    private static readonly (int Port, string Options, int Expected)[] KernelRules =
    [
        (9001, "--hashlimit-upto 10kb/s --hashlimit-mode srcip --hashlimit-name b1", 10),
        (9002, "--hashlimit-upto 10kb/s --hashlimit-burst 20kb --hashlimit-name b2", 30),
        (9003, "--hashlimit-above 2kb/s --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name b3", 16),
        (9004, "--hashlimit-upto 10/sec --hashlimit-burst 5 --hashlimit-name r1 --hashlimit-htable-expire 10000 --hashlimit-rate-match", 25),
        (9005, "--hashlimit-above 8kb/s --hashlimit-name r2 --hashlimit-rate-match", 17),
        (9006, "--hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name p1", 10),
        (1, "--hashlimit-upto 10kb/s --hashlimit-name s1", 0), // never reached, but it makes table s1 ...
        (9007, "--hashlimit-upto 100kb/s --hashlimit-name s1", 10), // ... so this rule gets 10kb/s, not 100kb/s
    ];

    // Bursts as fast as the sender can (a few ms each, far below what refill or a window could change), then at
    // 1.5 s (rate-match windows closed; 1.5 s is well inside [1 s, 4 s) where the first windows count as over), at
    // 2.5 s (the 1/sec entry idle for 2.5 s: expired after 1 s, and the 1 s garbage collector has certainly run) and
    // at 3.0 s (the second windows, 1.5 s long, were under).
    private const string SenderPlan = """
        burst(9001, 40, 1000)
        burst(9002, 40, 1000)
        burst(9003, 20, 500, ("10.0.0.5", "10.0.0.6"))
        burst(9004, 40, 100)
        burst(9005, 20, 1000)
        burst(9006, 10, 100)
        burst(9007, 20, 1000)
        at(1.5); burst(9004, 10, 100); burst(9005, 5, 1000)
        at(2.5); burst(9006, 10, 100)
        at(3.0); burst(9004, 10, 100); burst(9005, 5, 1000)
        """;

    private static int kernelRun;

    [Fact]
    public void Kernel_counts_equal_the_model_for_byte_mode_rate_match_expiry_and_shared_tables() =>
        KernelCheck(KernelRules, SenderPlan, 230);

    /// <summary>
    /// Rules of different kinds sharing one table. m1: the packets rule spends its burst of 5; a bytes rule on that
    /// packets entry then finds less than its cost (at most a second of byte credit, 4,194,304,000, against a packet's
    /// 13,743,895,300,000) and, the credit_cap word being far from 0, takes one off it and sets the credit to a second
    /// of byte credit: all 20 pass. m2: a packets rule on a bytes entry (1kb/s: one 16-byte chunk costs 64,527,752, a
    /// 65th of the second of credit) pays one chunk a packet: 65 of 80 pass, and the bytes rule (7 chunks for 100
    /// bytes, no burst) then finds the credit gone. m4: a rate-match packets rule on a rate-match bytes entry counts 1
    /// a packet against the byte burst (10,240); the bytes rule then sums 1000 a packet on top: 10 of 12 fit.
    /// </summary>
    private static readonly (int Port, string Options, int Expected)[] SharedKindRules =
    [
        (9101, "--hashlimit-upto 10/sec --hashlimit-burst 5 --hashlimit-name m1", 5),
        (9102, "--hashlimit-upto 1kb/s --hashlimit-name m1", 20),
        (9103, "--hashlimit-upto 1kb/s --hashlimit-name m2", 0),
        (9104, "--hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name m2", 65),
        (9108, "--hashlimit-upto 10kb/s --hashlimit-name m4 --hashlimit-rate-match", 10),
        (9109, "--hashlimit-upto 10/sec --hashlimit-name m4 --hashlimit-rate-match", 20),
    ];

    private const string SharedKindPlan = """
        burst(9101, 10, 100)
        burst(9102, 20, 1000)
        burst(9104, 80, 100)
        burst(9103, 5, 100)
        burst(9109, 20, 100)
        burst(9108, 12, 1000)
        """;

    [Fact]
    public void Kernel_counts_equal_the_model_for_rules_of_different_kinds_sharing_a_table() =>
        KernelCheck(SharedKindRules, SharedKindPlan, 147);

    private static readonly string[] KindOptions =
    [
        "--hashlimit-upto 10/sec", "--hashlimit-upto 1kb/s",
        "--hashlimit-upto 10/sec --hashlimit-rate-match", "--hashlimit-upto 1kb/s --hashlimit-rate-match",
    ];

    [Fact]
    public void Kernel_and_model_refuse_the_same_pairs_of_kinds_sharing_a_table()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-hl-{Environment.ProcessId}-{Interlocked.Increment(ref kernelRun)}";
        var script = """
            P=$1
            cleanup() { ip netns del $P-a 2>/dev/null; true; }
            trap cleanup EXIT
            ip netns add $P-a || exit 1

            """ + string.Join("\n", from i in Enumerable.Range(0, 4) from j in Enumerable.Range(0, 4) select
                $"ip netns exec $P-a iptables -A INPUT -p udp --dport 1 -m hashlimit {KindOptions[i]} --hashlimit-name t{i}{j} && "
                + $"{{ ip netns exec $P-a iptables -A INPUT -p udp --dport 2 -m hashlimit {KindOptions[j]} --hashlimit-name t{i}{j} 2>/dev/null; echo pair {i} {j} $?; }}") + "\n";
        var text = KernelShell.Script(script, prefix);
        output.WriteLine(text);
        int seen = 0;
        foreach (var f in text.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length == 4 && f[0] == "pair"))
        {
            int i = int.Parse(f[1], CultureInfo.InvariantCulture), j = int.Parse(f[2], CultureInfo.InvariantCulture);
            bool kernelAccepts = f[3] == "0";
            bool modelAccepts = true;
            try { Input(KindOptions[i] + " --hashlimit-name t", KindOptions[j] + " --hashlimit-name t"); }
            catch (EngineSetupException) { modelAccepts = false; }
            output.WriteLine($"{KindOptions[i]} then {KindOptions[j]}: kernel {kernelAccepts}, model {modelAccepts}");
            Assert.Equal(i / 2 == j / 2, kernelAccepts);
            Assert.Equal(kernelAccepts, modelAccepts);
            seen++;
        }
        Assert.Equal(16, seen);
    }

    private void KernelCheck((int Port, string Options, int Expected)[] kernelRules, string plan, int packets)
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "iptables-restore", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-hl-{Environment.ProcessId}-{Interlocked.Increment(ref kernelRun)}";
        var text = KernelShell.Script(Script(kernelRules, plan), prefix);
        output.WriteLine(text);

        var kernel = new Dictionary<int, int>();
        var sent = new List<(double Time, string Src, int Port, int Size)>();
        foreach (var line in text.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 3 && f[0] == "count") kernel[int.Parse(f[1], CultureInfo.InvariantCulture)] = int.Parse(f[2], CultureInfo.InvariantCulture);
            if (f.Length == 5 && f[0] == "sent")
                sent.Add((double.Parse(f[1], CultureInfo.InvariantCulture), f[2], int.Parse(f[3], CultureInfo.InvariantCulture), int.Parse(f[4], CultureInfo.InvariantCulture)));
        }
        Assert.Equal(packets, sent.Count);

        // the model replays what was sent, at the times the sender measured
        var rules = string.Join("\n", kernelRules.Select(r => $"-A INPUT -p udp -m udp --dport {r.Port} -m hashlimit {r.Options}"));
        var e = Engine.Create(TestRules.Load("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" + rules + "\nCOMMIT\n"),
            null, TestHosts.Server(), EngineOptions.Default);
        int n = 0;
        foreach (var s in sent)
            e.Process(P.Udp(s.Src, 40000, Server, (ushort)s.Port, "eth0", ++n, 1.0 + s.Time, payload: s.Size - 28));

        for (int i = 0; i < kernelRules.Length; i++)
        {
            var (port, _, expected) = kernelRules[i];
            var model = (int)e.Counters.Get(Family.IPv4, "filter", "INPUT", i + 1).Packets;
            output.WriteLine($"port {port}: kernel {kernel.GetValueOrDefault(port, -1)}, model {model}, expected {expected}");
        }
        for (int i = 0; i < kernelRules.Length; i++)
        {
            var (port, _, expected) = kernelRules[i];
            Assert.Equal(expected, kernel.GetValueOrDefault(port, -1));
            Assert.Equal(expected, (int)e.Counters.Get(Family.IPv4, "filter", "INPUT", i + 1).Packets);
        }
    }

    private static string Script((int Port, string Options, int Expected)[] kernelRules, string plan) => """
        P=$1
        cleanup() { for n in $P-a $P-b; do ip netns del $n 2>/dev/null; done; true; }
        trap cleanup EXIT
        A=$P-a; B=$P-b
        ip netns add $A && ip netns add $B || exit 1
        ip link add a0 netns $A type veth peer name b0 netns $B || exit 1
        for n in $A $B; do ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
        ip netns exec $A sh -c 'ip link set lo up; ip link set a0 address 02:00:00:00:00:0a; ip link set a0 up
        ip addr add 10.0.0.5/24 dev a0; ip addr add 10.0.0.6/24 dev a0
        ip neigh replace 10.0.0.10 lladdr 02:00:00:00:00:0b dev a0 nud permanent'
        ip netns exec $B sh -c 'ip link set lo up; ip link set b0 address 02:00:00:00:00:0b; ip link set b0 up
        ip addr add 10.0.0.10/24 dev b0
        ip neigh replace 10.0.0.5 lladdr 02:00:00:00:00:0a dev b0 nud permanent
        ip neigh replace 10.0.0.6 lladdr 02:00:00:00:00:0a dev b0 nud permanent'
        ip netns exec $B iptables-restore <<'RULES' || exit 1
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]

        """ + string.Join("\n", kernelRules.Select(r => $"-A INPUT -p udp -m udp --dport {r.Port} -m hashlimit {r.Options}")) + """

        COMMIT
        RULES
        ip netns exec $A python3 - <<'PY'
        import socket, time
        socks = {}
        def sock(src):
            if src not in socks:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, 0)); socks[src] = s
            return socks[src]
        t0 = time.monotonic()
        def burst(port, n, size, srcs=("10.0.0.5",)):
            for i in range(n):
                src = srcs[i % len(srcs)]
                sock(src).sendto(b"x" * (size - 28), ("10.0.0.10", port))
                print("sent %.6f %s %d %d" % (time.monotonic() - t0, src, port, size), flush=True)
        def at(t):
            d = t0 + t - time.monotonic()
            if d > 0: time.sleep(d)

        """ + plan + """

        PY
        ip netns exec $B iptables -L INPUT -v -n -x | awk '/dpt:/ { for (i = 1; i <= NF; i++) if ($i ~ /^dpt:/) print "count", substr($i, 5), $1 }'
        """;
}
