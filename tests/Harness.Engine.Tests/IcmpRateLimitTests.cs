using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Harness.Engine.Tests.Support;
using Harness.Hosts;
using Harness.Net;
using Harness.Packets;
using Xunit.Abstractions;

namespace Harness.Engine.Tests;

/// <summary>
/// The kernel's ICMP error rate limits (<see cref="IcmpRateLimit"/>): packet sequences with timestamps against the model,
/// and one replay of the same kind of sequences through the real kernel in throwaway namespaces (hx-icmprate-PID-N,
/// always deleted; skipped with the reason printed without root, ip, iptables-restore, ip6tables-restore or python3).
/// </summary>
public class IcmpRateLimitTests(ITestOutputHelper output)
{
    private const string Firewall = "10.0.0.10";
    private const string Firewall6 = "fd00::10";

    /// <summary>
    /// The firewall of the kernel check: b0 10.0.0.10/24 and fd00::10/64, forwarding on, 192.0.2.0/24 unreachable,
    /// 198.51.100.0/24 via 10.0.0.1; UDP is rejected (port unreachable), TCP with a reset.
    /// </summary>
    private static Engine Create(params (string Name, string Value)[] sysctls)
    {
        var s = Sysctls.Defaults.With("net.ipv4.ip_forward", "1").With("net.ipv6.conf.all.forwarding", "1");
        foreach (var (name, value) in sysctls) s = s.With(name, value);
        var host = new Host(
            [
                new HostInterface("lo", 1, new MacAddress(0), [new InterfaceAddress(Address.Parse("127.0.0.1"), 8), new InterfaceAddress(Address.Parse("::1"), 128)], IsLoopback: true, Mtu: 65536),
                new HostInterface("b0", 2, MacAddress.Parse("02:00:00:00:00:0b"), [new InterfaceAddress(Address.Parse(Firewall), 24), new InterfaceAddress(Address.Parse(Firewall6), 64)]),
            ],
            [
                new Route(Cidr("192.0.2.0/24"), null, Type: RouteType.Unreachable),
                new Route(Cidr("198.51.100.0/24"), "b0", Address.Parse("10.0.0.1")),
            ],
            ImmutableArray<RoutingRule>.Empty,
            s);
        const string filter = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + "-A INPUT -p udp -j REJECT\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n";
        return Engine.Create(TestRules.Load(filter), TestRules.Load(filter, Family.IPv6, "test6.rules"), host, EngineOptions.Default);
    }

    private static Cidr Cidr(string text) => Net.Cidr.TryParse(text, out var c) ? c : throw new ArgumentException(text);

    private static long number;

    private static Packet Udp(double time, string src = "10.0.0.1", string dst = Firewall, byte ttl = 64) =>
        P.Udp(src, 40000, dst, 9000, "b0", Interlocked.Increment(ref number), time, ttl: ttl);

    /// <summary>The packets the host sent because of <paramref name="p"/> (REJECT replies, ICMP errors).</summary>
    private static List<Outcome> Replies(Engine e, Packet p) => [.. e.Process(p).Where(o => o.Generated && o.Disposition is Disposition.Sent or Disposition.Delivered)];

    /// <summary>How many of the packets (one per time) got an answer.</summary>
    private static int Answered(Engine e, IEnumerable<double> times, Func<double, Packet> packet) =>
        times.Sum(t => Replies(e, packet(t)).Count);

    private static IEnumerable<double> Burst(int n, double start = 1.0, double span = 0.010) =>
        Enumerable.Range(0, n).Select(i => start + span * i / n);

    [Fact]
    public void Ten_rejected_packets_from_one_source_in_a_second_get_six_answers_then_one_per_second()
    {
        var e = Create();
        var outcomes = Burst(10).Select(t => e.Process(Udp(t))).ToList();
        Assert.Equal(6, outcomes.Count(o => o.Count == 2));
        foreach (var o in outcomes.Take(6))
            Assert.Equal((byte)3, Assert.IsType<IcmpHeader>(o[1].Packet.Transport).Code);
        foreach (var o in outcomes.Skip(6))
        {
            var cause = Assert.Single(o);
            Assert.Equal(Disposition.Rejected, cause.Disposition);
            Assert.Equal(FinalVerdict.Reject, cause.Verdict);
            Assert.Equal("REJECT reply suppressed by icmp_ratelimit", cause.Reason);
        }
        // the bucket is empty at 1.01 s: 0.5 s later nothing, 1.2 s later one (0.2 s left), then one a second
        Assert.Equal(0, Answered(e, [1.51], t => Udp(t)));
        Assert.Equal(1, Answered(e, [2.21], t => Udp(t)));
        Assert.Equal(0, Answered(e, [2.41], t => Udp(t)));
        Assert.Equal(1, Answered(e, [3.21], t => Udp(t)));
        // 3 s idle refills three answers
        Assert.Equal(3, Answered(e, Burst(5, 6.21), t => Udp(t)));
    }

    [Fact]
    public void Each_source_has_its_own_budget_and_so_does_each_engine()
    {
        var e = Create();
        var times = Burst(10).ToList();
        int a = 0, b = 0;
        foreach (var t in times)
        {
            a += Replies(e, Udp(t, "10.0.0.2")).Count;
            b += Replies(e, Udp(t + 0.0001, "10.0.0.3")).Count;
        }
        Assert.Equal((6, 6), (a, b));
        Assert.Equal(6, Answered(Create(), times, t => Udp(t, "10.0.0.2"))); // a new replay starts afresh
    }

    [Fact]
    public void Tcp_resets_are_never_limited()
    {
        var e = Create();
        var replies = Burst(20).SelectMany(t => Replies(e, P.Syn("10.0.0.4", 40000, Firewall, 80, "b0", Interlocked.Increment(ref number), t))).ToList();
        Assert.Equal(20, replies.Count);
        Assert.All(replies, r => Assert.True((Assert.IsType<TcpHeader>(r.Packet.Transport).Flags & TcpFlags.Rst) != 0));
        // and they spend nothing: the same source's ICMP errors still get the full burst
        Assert.Equal(6, Answered(e, Burst(10, 1.02), t => Udp(t, "10.0.0.4")));
    }

    [Fact]
    public void The_ratemask_decides_which_types_are_limited()
    {
        var limit = new IcmpRateLimit(Sysctls.Defaults);
        Assert.True(limit.InMask(Family.IPv4, 3, 3));   // every REJECT type is dest unreachable: limited
        Assert.False(limit.InMask(Family.IPv4, 3, 4));  // fragmentation needed never is
        Assert.True(limit.InMask(Family.IPv4, 11, 0));
        Assert.True(limit.InMask(Family.IPv4, 12, 0));
        Assert.False(limit.InMask(Family.IPv4, 0, 0));
        Assert.False(limit.InMask(Family.IPv4, 5, 0));  // redirect
        Assert.True(limit.InMask(Family.IPv6, 1, 4));
        Assert.False(limit.InMask(Family.IPv6, 2, 0));  // packet too big
        Assert.True(limit.InMask(Family.IPv6, 3, 0));
        Assert.True(limit.InMask(Family.IPv6, 127, 0));
        Assert.False(limit.InMask(Family.IPv6, 128, 0));

        // with type 3 taken out of the mask, REJECT's port unreachable is not limited at all
        var e = Create(("net.ipv4.icmp_ratemask", "6160"));
        Assert.Equal(20, Answered(e, Burst(20), t => Udp(t)));
        var v6 = new IcmpRateLimit(Sysctls.Defaults.With("net.ipv6.icmp.ratemask", "0,3-4"));
        Assert.False(v6.InMask(Family.IPv6, 1, 0));
        Assert.True(v6.InMask(Family.IPv6, 4, 0));
    }

    [Fact]
    public void Icmp_ratelimit_zero_turns_the_per_source_limit_off_but_not_the_global_one()
    {
        Assert.Equal(20, Answered(Create(("net.ipv4.icmp_ratelimit", "0")), Burst(20), t => Udp(t)));

        // burst 5: the credit (refilled to 5 by the first error) runs out after five; within 20 ms of that refill
        // nothing more, 30 ms after it 30 credits come back, capped at 5
        var e = Create(("net.ipv4.icmp_ratelimit", "0"), ("net.ipv4.icmp_msgs_burst", "5"));
        var first = Burst(10, 1.0, 0.010).Select(t => e.Process(Udp(t))).ToList();
        Assert.Equal(5, first.Count(o => o.Count == 2));
        Assert.Equal("REJECT reply suppressed by icmp_msgs_per_sec", first[^1][0].Reason);
        Assert.Equal(5, Answered(e, Burst(10, 1.030, 0.010), t => Udp(t, "10.0.0.9")));
        // icmp_msgs_per_sec 0 never refills: not even one
        Assert.Equal(0, Answered(Create(("net.ipv4.icmp_msgs_per_sec", "0")), Burst(3), t => Udp(t)));
    }

    [Fact]
    public void A_slower_ratelimit_spaces_the_answers_further_apart()
    {
        var e = Create(("net.ipv4.icmp_ratelimit", "250"));
        Assert.Equal(6, Answered(e, Burst(10), t => Udp(t)));
        Assert.Equal(1, Answered(e, [1.27, 1.28], t => Udp(t)));
        Assert.Equal(4, Answered(e, Burst(10, 2.28), t => Udp(t))); // one second idle = four intervals
    }

    [Fact]
    public void Ttl_exceeded_is_limited_and_the_dropped_packet_says_so()
    {
        var e = Create();
        var outcomes = Burst(10).Select(t => e.Process(Udp(t, "10.0.0.7", "198.51.100.9", ttl: 1))).ToList();
        Assert.Equal(6, outcomes.Count(o => o.Count == 2));
        Assert.All(outcomes.Take(6), o => Assert.Equal((byte)11, Assert.IsType<IcmpHeader>(o[1].Packet.Transport).Type));
        var last = Assert.Single(outcomes[^1]);
        Assert.Equal(Disposition.Dropped, last.Disposition);
        Assert.Equal("TTL exceeded in forwarding; ICMP error suppressed by icmp_ratelimit", last.Reason);
    }

    [Fact]
    public void Route_errors_pass_ip_errors_own_bucket_first_and_both_spend_the_same_tokens()
    {
        // a new source has 5 s in ip_error's bucket: each error costs 1 s there and 1 s in icmp_send's → two answers;
        // after that every packet that passes ip_error spends its second, so one a second never gets an answer
        var e = Create();
        Assert.Equal(2, Answered(e, Burst(10), t => Udp(t, "10.0.0.6", "192.0.2.1")));
        Assert.Equal(0, Answered(e, [2.05, 3.1, 4.15], t => Udp(t, "10.0.0.6", "192.0.2.1")));
        Assert.Equal(1, Answered(e, [6.5], t => Udp(t, "10.0.0.6", "192.0.2.1")));
        var reply = Replies(Create(), Udp(1, "10.0.0.6", "192.0.2.1")).Single();
        Assert.Equal(((byte)3, (byte)1), (((IcmpHeader)reply.Packet.Transport!).Type, ((IcmpHeader)reply.Packet.Transport!).Code));
        // The packet whose answer was held back says so.
        var f = Create();
        var outcomes = Burst(3).Select(t => f.Process(Udp(t, "10.0.0.6", "192.0.2.1"))).ToList();
        Assert.Equal([2, 2, 1], outcomes.Select(o => o.Count));
        Assert.Equal("unreachable route", outcomes[0][0].Reason);
        Assert.StartsWith("unreachable route; ICMP error suppressed by ", outcomes[2][0].Reason);
    }

    [Fact]
    public void Icmpv6_errors_allow_one_per_100_ms()
    {
        var e = Create();
        Packet Udp6(double t) => P.Udp("fd00::1", 40000, Firewall6, 9000, "b0", Interlocked.Increment(ref number), t);
        var outcomes = Burst(10).Select(t => e.Process(Udp6(t))).ToList();
        Assert.Equal(6, outcomes.Count(o => o.Count == 2));
        Assert.Equal("REJECT reply suppressed by net.ipv6.icmp.ratelimit", outcomes[^1][0].Reason);
        Assert.Equal(0, Answered(e, [1.06], Udp6));
        Assert.Equal(1, Answered(e, [1.13], Udp6));
        Assert.Equal(3, Answered(e, [1.45, 1.46, 1.47, 1.48], Udp6));
        // net.ipv6.icmp.ratelimit=0: no per-source limit
        Assert.Equal(20, Answered(Create(("net.ipv6.icmp.ratelimit", "0")), Burst(20), Udp6));
    }

    [Fact]
    public void Errors_to_the_hosts_own_addresses_are_not_limited()
    {
        // made here, to a local address: back in through lo, where the kernel checks neither limit
        var e = Create();
        var outcomes = Burst(10).Select(t => e.Process(P.Udp(Firewall, 40000, Firewall, 9000, null, Interlocked.Increment(ref number), t))).ToList();
        Assert.All(outcomes, o =>
        {
            Assert.Equal(2, o.Count);
            Assert.Equal(Disposition.Rejected, o[0].Disposition);
            Assert.True(o[1].Generated);
            Assert.Equal(Disposition.Delivered, o[1].Disposition); // the port unreachable comes back in through lo
        });
    }

    [Fact]
    public void Forgetting_idle_destinations_changes_no_answer()
    {
        var limit = new IcmpRateLimit(Sysctls.Defaults);
        var idle = Address.Parse("10.0.0.1");
        var busy = Address.Parse("10.0.0.2");
        int Send(Address a, double t, int n = 10) =>
            Enumerable.Range(0, n).Count(i => limit.AllowDestination(a, toLoopback: false, Timestamp.FromSeconds(t + i * 0.001)));
        Assert.Equal(6, Send(idle, 1.0));
        Assert.Equal(6, Send(busy, 10.9));
        for (int i = 0; i < 5000; i++)
            limit.AllowDestination(Address.Parse($"fd00::1:{i:x}"), false, Timestamp.FromSeconds(11.0 + i * 1e-7));
        Assert.Equal(2 + 5000 - 1, limit.TrackedDestinations); // at the 4096th entry the 10 s idle one went, nothing else could
        Assert.Equal(0, Send(busy, 11.01)); // still empty: kept
        Assert.Equal(6, Send(idle, 11.02)); // a full burst, as the kept entry would have had after 10 s
    }

    // ---- the real kernel ----

    private static int kernelRun;

    [Fact]
    public void Kernel_sends_as_many_icmp_errors_as_the_model_for_the_same_send_times()
    {
        if (!KernelShell.Available(out var why, "ip", "iptables", "iptables-restore", "ip6tables-restore", "python3")) { output.WriteLine(why); return; }
        var prefix = $"hx-icmprate-{Environment.ProcessId}-{Interlocked.Increment(ref kernelRun)}";
        var text = KernelShell.Script(Script, prefix);
        output.WriteLine(text);
        var kernel = new Dictionary<string, long>(StringComparer.Ordinal);
        var received = new Dictionary<string, long>(StringComparer.Ordinal);
        var model = new Dictionary<string, long>(StringComparer.Ordinal);
        var e = Create();
        var zero = Create(("net.ipv4.icmp_ratelimit", "0"));
        var slow = Create(("net.ipv4.icmp_ratelimit", "250"));
        var mask = Create(("net.ipv4.icmp_ratelimit", "250"), ("net.ipv4.icmp_ratemask", "6160"));
        foreach (var line in text.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 3 && f[0] == "count") kernel[f[1]] = long.Parse(f[2], CultureInfo.InvariantCulture);
            if (f.Length == 4 && f[0] == "received") received[f[1]] = long.Parse(f[3], CultureInfo.InvariantCulture);
            if (f.Length != 6 || f[0] != "sent") continue;
            var (name, src, dst, kind) = (f[1], f[2], f[3], f[4]);
            double t = 1.0 + double.Parse(f[5], CultureInfo.InvariantCulture);
            long n = Interlocked.Increment(ref number);
            var packet = kind switch
            {
                "tcp" => P.Syn(src, 40000, dst, 80, "b0", n, t),
                "ttl1" => P.Udp(src, 40000, dst, 9000, "b0", n, t, ttl: 1),
                "local" => P.Udp(src, 40000, dst, 9000, null, n, t),
                _ => P.Udp(src, 40000, dst, 9000, "b0", n, t),
            };
            model.TryAdd(src, 0);
            model[src] += Replies(name switch { "zero" => zero, "slow" => slow, "mask" => mask, _ => e }, packet).Count;
        }
        Assert.True(kernel.Count == 11, "the kernel script did not finish:\n" + text);
        output.WriteLine("source: kernel / model: " + string.Join(", ", model.Select(kv => $"{kv.Key} {kernel[kv.Key]}/{kv.Value}")));
        foreach (var (src, count) in model) Assert.Equal(kernel[src], count);
        // what the peer received equals what left the firewall's OUTPUT
        foreach (var (dst, count) in received) Assert.Equal(kernel[dst], count);
        Assert.Equal(10, model["10.0.0.4"]); // resets
        Assert.Equal(6, model["10.0.0.2"]);
        Assert.Equal(10, model[Firewall]); // to itself through lo: not limited
        Assert.Equal(7, model["10.0.0.8"]); // 250 ms: six, and one of the two 0.3 s later
        Assert.Equal(10, model["10.0.0.9"]); // port unreachable outside the ratemask
    }

    /// <summary>
    /// Two namespaces: the peer A (10.0.0.1-7/24, fd00::1/64) sends on a schedule and prints each packet's actual send
    /// time; the firewall B rejects UDP with port unreachable and TCP with a reset, forwards with an unreachable route
    /// (192.0.2.0/24) and a route for TTL-1 packets; its OUTPUT counters count the answers per destination, and A's
    /// raw socket counts what arrived. Then B sends ten to its own closed port (errors through lo), and last
    /// net.ipv4.icmp_ratelimit=0 and ten more from a new source, then 250 ms and twelve from another, then the ratemask
    /// without type 3 and ten from a third.
    /// </summary>
    private const string Script = """
        P=$1; A=$P-a; B=$P-b
        cleanup() { for n in $A $B; do ip netns del $n 2>/dev/null; done; true; }
        trap cleanup EXIT
        ip netns add $A && ip netns add $B || exit 1
        ip link add a0 netns $A type veth peer name b0 netns $B || exit 1
        ip netns exec $A sh -c 'ip link set lo up; ip link set a0 address 02:00:00:00:00:0a; ip link set a0 up
          for i in 1 2 3 4 5 6 7 8 9; do ip addr add 10.0.0.$i/24 dev a0; done
          ip addr add fd00::1/64 dev a0 nodad
          ip route add 192.0.2.0/24 via 10.0.0.10; ip route add 198.51.100.0/24 via 10.0.0.10
          ip neigh replace 10.0.0.10 lladdr 02:00:00:00:00:0b dev a0 nud permanent
          ip neigh replace fd00::10 lladdr 02:00:00:00:00:0b dev a0 nud permanent' || exit 1
        ip netns exec $B sh -c 'ip link set lo up; ip link set b0 address 02:00:00:00:00:0b; ip link set b0 up
          ip addr add 10.0.0.10/24 dev b0; ip addr add fd00::10/64 dev b0 nodad
          for i in 1 2 3 4 5 6 7 8 9; do ip neigh replace 10.0.0.$i lladdr 02:00:00:00:00:0a dev b0 nud permanent; done
          ip neigh replace fd00::1 lladdr 02:00:00:00:00:0a dev b0 nud permanent
          ip route add unreachable 192.0.2.0/24; ip route add 198.51.100.0/24 via 10.0.0.1
          sysctl -qw net.ipv4.ip_forward=1' || exit 1
        ip netns exec $B iptables-restore <<'RULES' || exit 1
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp -j REJECT
        -A INPUT -p tcp -j REJECT --reject-with tcp-reset
        -A OUTPUT -p tcp -m tcp --tcp-flags RST RST -d 10.0.0.4
        -A OUTPUT -p icmp -d 10.0.0.1
        -A OUTPUT -p icmp -d 10.0.0.2
        -A OUTPUT -p icmp -d 10.0.0.3
        -A OUTPUT -p icmp -d 10.0.0.5
        -A OUTPUT -p icmp -d 10.0.0.6
        -A OUTPUT -p icmp -d 10.0.0.7
        -A OUTPUT -p icmp -d 10.0.0.10
        -A OUTPUT -p icmp -d 10.0.0.8
        -A OUTPUT -p icmp -d 10.0.0.9
        COMMIT
        RULES
        ip netns exec $B ip6tables-restore <<'RULES' || exit 1
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp -j REJECT
        -A OUTPUT -d fd00::1 -p ipv6-icmp -m icmp6 --icmpv6-type 1
        COMMIT
        RULES
        sleep 0.3
        ip netns exec $A python3 - "$B" <<'PY'
        import socket, time, subprocess, sys, select
        B = sys.argv[1]
        ev = []  # (time, scenario, source, destination, kind)
        ev += [(0.0, 'one', '10.0.0.1', '10.0.0.10', 'udp')] * 10
        for t in (0.5, 1.2, 1.4, 2.5, 4.0, 4.05, 4.1): ev.append((t, 'one', '10.0.0.1', '10.0.0.10', 'udp'))
        for i in range(10):
            ev.append((0.05, 'two', '10.0.0.2', '10.0.0.10', 'udp')); ev.append((0.05, 'two', '10.0.0.3', '10.0.0.10', 'udp'))
        ev += [(0.1, 'rst', '10.0.0.4', '10.0.0.10', 'tcp')] * 10
        ev += [(0.15, 'route', '10.0.0.6', '192.0.2.1', 'udp')] * 10
        for t in (1.2, 3.5, 5.8): ev.append((t, 'route', '10.0.0.6', '192.0.2.1', 'udp'))
        ev += [(0.2, 'ttl', '10.0.0.7', '198.51.100.9', 'ttl1')] * 10
        ev += [(0.25, 'v6', 'fd00::1', 'fd00::10', 'udp6')] * 10
        for t in (0.3, 0.43, 0.44, 0.65, 0.67, 0.69, 0.71): ev.append((t, 'v6', 'fd00::1', 'fd00::10', 'udp6'))
        ev.sort(key=lambda e: e[0])
        socks = {}
        def udp(src, v6=False, ttl=None):
            if (src, ttl) not in socks:
                s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((src, 40000))
                if ttl: s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                socks[(src, ttl)] = s
            return socks[(src, ttl)]
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        pending = []
        start = time.monotonic()
        for t, name, src, dst, kind in ev:
            while time.monotonic() - start < t: time.sleep(0.0005)
            at = time.monotonic() - start
            if kind == 'tcp':
                s = socket.socket(); s.setblocking(False); s.bind((src, 40000 + len(pending))); s.connect_ex((dst, 80)); pending.append(s)
            elif kind == 'udp6':
                udp(src, True).sendto(b'x' * 10, (dst, 9000))
            else:
                udp(src, ttl=1 if kind == 'ttl1' else None).sendto(b'x' * 10, (dst, 9000))
            print('sent', name, src, dst, kind, '%.6f' % at)
        time.sleep(0.3)
        got = {}
        while select.select([raw], [], [], 0)[0]:
            pkt = raw.recv(2048)
            d = socket.inet_ntoa(pkt[16:20])
            got[d] = got.get(d, 0) + 1
        for d, n in sorted(got.items()): print('received', d, 'icmp', n)
        at = time.monotonic() - start
        code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(10): s.sendto(b'x', ('10.0.0.10', 9000))"
        subprocess.run(['ip', 'netns', 'exec', B, 'python3', '-c', code], check=True)
        for i in range(10): print('sent local 10.0.0.10 10.0.0.10 local %.6f' % at)
        subprocess.run(['ip', 'netns', 'exec', B, 'sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0'], check=True)
        for i in range(10):
            udp('10.0.0.5').sendto(b'x' * 10, ('10.0.0.10', 9000))
            print('sent zero 10.0.0.5 10.0.0.10 udp %.6f' % (time.monotonic() - start))
        subprocess.run(['ip', 'netns', 'exec', B, 'sysctl', '-qw', 'net.ipv4.icmp_ratelimit=250'], check=True)
        t0 = time.monotonic() - start
        for t in [0.0] * 10 + [0.3, 0.3]:
            while time.monotonic() - start < t0 + t: time.sleep(0.0005)
            udp('10.0.0.8').sendto(b'x' * 10, ('10.0.0.10', 9000))
            print('sent slow 10.0.0.8 10.0.0.10 udp %.6f' % (time.monotonic() - start))
        subprocess.run(['ip', 'netns', 'exec', B, 'sysctl', '-qw', 'net.ipv4.icmp_ratemask=6160'], check=True)
        for i in range(10):
            udp('10.0.0.9').sendto(b'x' * 10, ('10.0.0.10', 9000))
            print('sent mask 10.0.0.9 10.0.0.10 udp %.6f' % (time.monotonic() - start))
        PY
        ip netns exec $B iptables -L OUTPUT -v -n -x | awk '$1 ~ /^[0-9]+$/ { print "count", $8, $1 }'
        ip netns exec $B ip6tables -L OUTPUT -v -n -x | awk '$1 ~ /^[0-9]+$/ { print "count", "fd00::1", $1 }'
        """;
}
