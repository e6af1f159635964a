using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// -m recent table limits as kernel 6.18 has them: 100 entries per table (ip_list_tot) with the least recently updated
/// one forgotten for a new address, a ring of 32 hit times (more when a rule's --hitcount needs it), --reap of the
/// oldest entry only, the table's mask from its first rule, `! --update` recording while the rule matches; and one
/// check of the same packet sequence against the real kernel in throwaway namespaces (hx-rc-PID-a/-b, always deleted;
/// skipped with the reason printed without root, ip, iptables-restore or python3).
/// </summary>
public class RecentTests(ITestOutputHelper output)
{
    private const string Server = "10.0.0.10";

    private static Engine Input(string rules, Host? host = null) =>
        Engine.Create(TestRules.Load("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" + rules.Trim() + "\nCOMMIT\n"),
            null, host ?? TestHosts.Server(), EngineOptions.Default);

    private static Host WithSysctls(params (string Name, string Value)[] values) =>
        TestHosts.Server() with
        {
            Sysctls = new Sysctls(values.ToImmutableSortedDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal)),
        };

    private double time = 1.0;
    private long number;

    /// <summary>Sends a plan (lines "SRC DPORT COUNT", or "SLEEP" for 1.5 s) through the model, 1 ms apart, on from the last call.</summary>
    private void Run(Engine e, string plan)
    {
        foreach (var raw in plan.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw == "SLEEP") { time += 1.5; continue; }
            var f = raw.Split(' ');
            for (int i = 0; i < int.Parse(f[2], CultureInfo.InvariantCulture); i++)
            {
                time += 0.001;
                e.Process(P.Udp(f[0], 40000, Server, ushort.Parse(f[1], CultureInfo.InvariantCulture), "eth0", ++number, time));
            }
        }
    }

    private static ulong Count(Engine e, int rule) => e.Counters.Get(Family.IPv4, "filter", "INPUT", rule).Packets;

    /// <summary>The table as "ADDRESS ttl TTL index INDEX stamps N" lines, sorted (the kernel lists in hash order).</summary>
    private static List<string> Listing(Engine e, string name) =>
        [.. (e.RecentTable(name)?.Entries ?? []).Select(x =>
                $"{new Address(x.Key.Address, x.Key.Family)} ttl {x.Ttl} index {x.Index} stamps {x.Count}")
            .Order(StringComparer.Ordinal)];

    private static string Sources(int from, int to, int port) =>
        string.Join("\n", Enumerable.Range(from, to - from + 1).Select(i => $"10.77.1.{i} {port} 1"));

    [Fact]
    public void A_full_table_forgets_the_least_recently_updated_address_and_rcheck_does_not_refresh()
    {
        var e = Input("""
            -A INPUT -p udp --dport 9 -m recent --name T --set
            -A INPUT -p udp --dport 10 -m recent --name T --rcheck -j ACCEPT
            -A INPUT -p udp --dport 11 -m recent --name T --update -j ACCEPT
            """);
        Run(e, Sources(1, 100, 9));
        Assert.Equal(100, e.RecentTable("T")!.Count);
        Run(e, "10.77.1.1 10 1\n10.77.1.2 11 1\n10.77.1.101 9 1\n10.77.1.102 9 1");
        var listed = Listing(e, "T").Select(l => l.Split(' ')[0]).ToHashSet();
        Assert.Equal(100, listed.Count);
        // .1 was only --rcheck'ed: still the oldest, forgotten for .101; .2 was --update'd: .3 goes for .102
        Assert.DoesNotContain("10.77.1.1", listed);
        Assert.DoesNotContain("10.77.1.3", listed);
        Assert.Contains("10.77.1.2", listed);
        Assert.Contains("10.77.1.4", listed);
        Assert.Contains("10.77.1.102", listed);
        Run(e, "10.77.1.1 10 1\n10.77.1.2 10 1");
        Assert.Equal((2UL, 1UL), (Count(e, 2), Count(e, 3)));
    }

    [Fact]
    public void The_ring_keeps_32_hit_times_unless_a_rule_of_the_table_counts_more()
    {
        var e = Input("""
            -A INPUT -p udp --dport 20 -m recent --name U --set
            -A INPUT -p udp --dport 21 -m recent --name U --rcheck --hitcount 20 -j ACCEPT
            -A INPUT -p udp --dport 22 -m recent --name U --rcheck --hitcount 21 -j ACCEPT
            -A INPUT -p udp --dport 30 -m recent --name V --set
            -A INPUT -p udp --dport 31 -m recent --name V --rcheck --hitcount 40 -j ACCEPT
            """);
        Run(e, "10.77.1.5 20 19\n10.77.1.5 21 1");
        Assert.Equal(0UL, Count(e, 2));
        Run(e, "10.77.1.5 20 1\n10.77.1.5 21 1\n10.77.1.5 22 1");
        Assert.Equal((1UL, 0UL), (Count(e, 2), Count(e, 3)));
        Run(e, "10.77.1.5 20 25\n10.77.1.6 30 45\n10.77.1.6 31 1");
        Assert.Equal(["10.77.1.5 ttl 64 index 13 stamps 32"], Listing(e, "U"));
        Assert.Equal(["10.77.1.6 ttl 64 index 45 stamps 45"], Listing(e, "V"));
        Assert.Equal(1UL, Count(e, 5));
        Assert.Equal(32, e.RecentTable("U")!.Entries.Single().Stamps.Count());
    }

    [Fact]
    public void Ring_sizes_follow_hitcount_and_ip_pkt_list_tot_rounded_up_to_a_power_of_two()
    {
        Assert.Equal(32, RecentEvaluatorRing(0, 0));
        Assert.Equal(32, RecentEvaluatorRing(20, 0));
        Assert.Equal(64, RecentEvaluatorRing(33, 0));
        Assert.Equal(512, RecentEvaluatorRing(300, 0));
        Assert.Equal(8, RecentEvaluatorRing(0, 5));
        Assert.Equal(8, RecentEvaluatorRing(4, 5));
        Assert.Equal(16, RecentEvaluatorRing(9, 5));
    }

    private static int RecentEvaluatorRing(uint hits, uint pktListTot) => Matches.RecentEvaluator.RingFor(hits, pktListTot);

    [Fact]
    public void Reap_drops_only_the_least_recently_updated_entry_when_it_is_stale()
    {
        var e = Input("""
            -A INPUT -p udp --dport 40 -m recent --name R --set
            -A INPUT -p udp --dport 41 -m recent --name R --rcheck --seconds 1 --reap -j ACCEPT
            """);
        Run(e, "10.77.1.7 40 1\n10.77.1.8 40 1\nSLEEP\n10.77.1.9 40 1\n10.77.1.9 41 1");
        Assert.Equal(1UL, Count(e, 2));
        Assert.Equal(["10.77.1.8", "10.77.1.9"], Listing(e, "R").Select(l => l.Split(' ')[0]));
        Run(e, "10.77.1.9 41 1");
        Assert.Equal(["10.77.1.9"], Listing(e, "R").Select(l => l.Split(' ')[0]));
    }

    [Fact]
    public void The_table_mask_is_the_first_rules_and_not_update_records_while_the_rule_matches()
    {
        var e = Input("""
            -A INPUT -p udp --dport 50 -m recent --name M --set --mask 255.255.255.0
            -A INPUT -p udp --dport 51 -m recent --name M --rcheck -j ACCEPT
            -A INPUT -p udp --dport 60 -m recent --name N --set
            -A INPUT -p udp --dport 61 -m recent ! --update --name N --seconds 100 --hitcount 3 -j ACCEPT
            """);
        Run(e, "10.77.1.4 50 1\n10.77.1.5 51 1");
        Assert.Equal(1UL, Count(e, 2));
        Assert.Equal(["10.77.1.0 ttl 64 index 1 stamps 1"], Listing(e, "M"));
        Run(e, "10.77.1.5 60 1");
        var seen = new List<(ulong, int)>();
        for (int i = 0; i < 4; i++)
        {
            Run(e, "10.77.1.5 61 1");
            seen.Add((Count(e, 4), e.RecentTable("N")!.Entries.Single().Count));
        }
        Assert.Equal([(1UL, 2), (2UL, 3), (2UL, 3), (2UL, 3)], seen);
    }

    [Fact]
    public void The_host_sets_the_table_size_and_the_ring()
    {
        var host = WithSysctls(("xt_recent.ip_list_tot", "3"), ("xt_recent.ip_pkt_list_tot", "5"));
        var e = Input("-A INPUT -p udp --dport 9 -m recent --name T --set", host);
        Run(e, Sources(1, 4, 9) + "\n10.77.1.2 9 9");
        Assert.Equal(["10.77.1.2 ttl 64 index 2 stamps 8", "10.77.1.3 ttl 64 index 1 stamps 1", "10.77.1.4 ttl 64 index 1 stamps 1"],
            Listing(e, "T"));
    }

    [Fact]
    public void Module_parameters_the_module_refuses_are_setup_errors()
    {
        var ex = Assert.Throws<EngineSetupException>(() =>
            Input("-A INPUT -m recent --name T --set", WithSysctls(("xt_recent.ip_list_tot", "0"))));
        output.WriteLine(ex.Message);
        Assert.Contains("xt_recent.ip_list_tot = 0", ex.Message);
        ex = Assert.Throws<EngineSetupException>(() =>
            Input("-A INPUT -m recent --name T --set", WithSysctls(("xt_recent.ip_pkt_list_tot", "65536"))));
        output.WriteLine(ex.Message);
        Assert.Contains("xt_recent.ip_pkt_list_tot = 65536", ex.Message);
    }

    [Fact]
    public void A_hitcount_the_kernel_refuses_is_a_load_error_at_its_line_and_65535_loads()
    {
        // 6.18 keeps up to 65535 hit times (kernel-checked: --hitcount 65535 loads, 65536 and 70000 are refused with
        // EINVAL at the rule's line; --hitcount 300 loads and matches after 300 hits, the table keeping 512 stamps)
        var ex = Assert.ThrowsAny<Exception>(() => Input("-A INPUT -m recent --name H --rcheck --hitcount 65536"));
        output.WriteLine(ex.Message);
        Assert.Contains("hitcount", ex.Message);
        Assert.Contains(":5:", ex.Message);
        var e = Input("-A INPUT -p udp --dport 9 -m recent --name H --set\n-A INPUT -m recent --name H --rcheck --hitcount 65535");
        Run(e, "10.77.1.1 9 3");
        Assert.Equal(65536, e.RecentTable("H")!.Ring);
        Assert.Equal(["10.77.1.1 ttl 64 index 3 stamps 3"], Listing(e, "H"));
    }

    [Fact]
    public void A_packet_of_a_local_socket_keeps_its_ttl_in_output()
    {
        var e = Input("-A OUTPUT -o lo -p udp --dport 70 -m recent --name O --set");
        e.Process(P.Udp("127.0.0.1", 40000, "127.0.0.1", 70, null, 1, 1.0));
        Assert.Equal(["127.0.0.1 ttl 64 index 1 stamps 1"], Listing(e, "O"));
    }

    [Fact]
    public void A_forwarded_packet_is_seen_with_its_ttl_before_forwarding()
    {
        // kernel-checked (namespaces c → f → s, TTL 50 sent): PREROUTING, FORWARD and POSTROUTING of f all list ttl 50,
        // the kernel adding back the hop it took off (output device, no local socket)
        var e = Engine.Create(TestRules.Load("""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -p udp --dport 9 -m recent --name PRE --set
            -A FORWARD -p udp --dport 9 -m recent --name FWD --set
            -A POSTROUTING -p udp --dport 9 -m recent --name POST --set
            COMMIT
            """), null, TestHosts.Router(), EngineOptions.Default);
        var outcome = e.Process(P.Udp("198.51.100.7", 40000, "192.168.1.20", 9, "eth0", 1, 1.0, ttl: 50))[0];
        Assert.Equal(Disposition.Forwarded, outcome.Disposition);
        foreach (var t in new[] { "PRE", "FWD", "POST" })
            Assert.Equal(["198.51.100.7 ttl 50 index 1 stamps 1"], Listing(e, t));
    }

    // ---- the kernel ----

    private const string KernelRules = """
        -A INPUT -p udp --dport 9 -m recent --name T --set
        -A INPUT -p udp --dport 10 -m recent --name T --rcheck -j ACCEPT
        -A INPUT -p udp --dport 11 -m recent --name T --update -j ACCEPT
        -A INPUT -p udp --dport 20 -m recent --name U --set
        -A INPUT -p udp --dport 21 -m recent --name U --rcheck --hitcount 20 -j ACCEPT
        -A INPUT -p udp --dport 22 -m recent --name U --rcheck --hitcount 21 -j ACCEPT
        -A INPUT -p udp --dport 30 -m recent --name V --set
        -A INPUT -p udp --dport 31 -m recent --name V --rcheck --hitcount 40 -j ACCEPT
        -A INPUT -p udp --dport 40 -m recent --name R --set
        -A INPUT -p udp --dport 41 -m recent --name R --rcheck --seconds 1 --reap -j ACCEPT
        -A INPUT -p udp --dport 50 -m recent --name M --set --mask 255.255.255.0
        -A INPUT -p udp --dport 51 -m recent --name M --rcheck -j ACCEPT
        -A INPUT -p udp --dport 60 -m recent --name N --set
        -A INPUT -p udp --dport 61 -m recent ! --update --name N --seconds 100 --hitcount 3 -j ACCEPT
        """;

    private static readonly string KernelPlan = Sources(1, 100, 9) + "\n" + """
        10.77.1.1 10 1
        10.77.1.2 11 1
        10.77.1.101 9 1
        10.77.1.102 9 1
        10.77.1.1 10 1
        10.77.1.2 10 1
        10.77.1.5 20 19
        10.77.1.5 21 1
        10.77.1.5 20 1
        10.77.1.5 21 1
        10.77.1.5 22 1
        10.77.1.5 20 25
        10.77.1.6 30 45
        10.77.1.6 31 1
        10.77.1.7 40 1
        10.77.1.8 40 1
        SLEEP
        10.77.1.9 40 1
        10.77.1.9 41 1
        10.77.1.9 41 1
        10.77.1.4 50 1
        10.77.1.5 51 1
        10.77.1.5 60 1
        10.77.1.5 61 4
        """;

    private static readonly string[] Tables = ["T", "U", "V", "R", "M", "N"];

    [Fact]
    public void Kernel_counters_and_proc_listings_equal_the_model()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables-restore", "iptables-save", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-rc-{Environment.ProcessId}";
        var text = KernelShell.Script(Script, prefix,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" + KernelRules + "\nCOMMIT\n", KernelPlan,
            string.Join(" ", Tables));
        output.WriteLine(text);
        Assert.Contains("DONE", text);

        var kernelCounts = text.Split('\n').Where(l => l.StartsWith('[') && l.Contains("-A INPUT"))
            .Select(l => ulong.Parse(l[1..l.IndexOf(':')], CultureInfo.InvariantCulture)).ToList();
        var kernelLists = new Dictionary<string, List<string>>();
        string? current = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("== ")) { current = line[3..].Trim(); kernelLists[current] = []; continue; }
            if (current is null || !line.StartsWith("src=")) continue;
            // src=A ttl: T last_seen: J oldest_pkt: I s0, s1, …
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            kernelLists[current].Add($"{f[0][4..]} ttl {f[2]} index {f[6]} stamps {f.Length - 7}");
        }

        var e = Input(KernelRules);
        Run(e, KernelPlan);
        var modelCounts = Enumerable.Range(1, 14).Select(i => Count(e, i)).ToList();
        Assert.Equal(modelCounts, kernelCounts);
        foreach (var t in Tables)
        {
            kernelLists[t].Sort(StringComparer.Ordinal);
            Assert.Equal(Listing(e, t), kernelLists[t]);
        }
        Assert.Equal(100, kernelLists["T"].Count);
    }

    /// <summary>$1 prefix, $2 ruleset, $3 plan, $4 table names.</summary>
    private const string Script = """
        P=$1
        trap 'ip netns del $P-a 2>/dev/null; ip netns del $P-b 2>/dev/null; true' EXIT
        set -e
        ip netns add $P-a; ip netns add $P-b
        ip link add ra netns $P-a address 02:00:00:00:aa:01 type veth peer name rb netns $P-b address 02:00:00:00:bb:01
        ip -n $P-a addr add 10.77.255.254/16 dev ra; ip -n $P-a link set ra up; ip -n $P-a link set lo up
        ip -n $P-b link set rb up; ip -n $P-b link set lo up
        for i in $(seq 1 110); do echo "addr add 10.77.1.$i/16 dev rb"; done | ip -n $P-b -batch -
        ip -n $P-b neigh replace 10.77.255.254 lladdr 02:00:00:00:aa:01 dev rb nud permanent
        printf '%s' "$2" | ip netns exec $P-a iptables-restore
        ip netns exec $P-b python3 -c '
        import socket, sys, time
        for line in sys.argv[1].split("\n"):
            f = line.split()
            if not f: continue
            if f[0] == "SLEEP": time.sleep(1.5); continue
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f[0], 0))
            for _ in range(int(f[2])): s.sendto(b"x", ("10.77.255.254", int(f[1])))
            s.close()
        ' "$3"
        sleep 0.2
        ip netns exec $P-a iptables-save -c -t filter
        for t in $4; do echo "== $t"; ip netns exec $P-a cat /proc/net/xt_recent/$t; done
        echo DONE
        """;
}
