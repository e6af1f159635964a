using Harness.Engine.Conntrack;
using Harness.Engine.Routing;
using Harness.Hosts;
using Harness.Net;
using Harness.Rules;

namespace Harness.Engine.Walk;

/// <summary>
/// State shared by every packet of one replay: the host's FIB, the case's seeded random source, the ipsets and the
/// `-m recent` lists, the ICMP error rate limits. Deterministic: the only randomness is <see cref="Random"/>, seeded from the case.
/// </summary>
public sealed class EngineRuntime
{
    public EngineRuntime(Host host, EngineOptions options)
    {
        Host = host;
        Options = options;
        Fib = new Fib(host);
        Random = new Random(options.Seed);
        Sets = options.Sets ?? IpSets.Empty;
        foreach (var (name, set) in Sets.Sets) LiveSets[name] = new LiveIpSet(set);
        foreach (var iface in host.Interfaces) _interfaces.TryAdd(iface.Name, iface);
        IpForward = host.Sysctls.IpForward;
        Ipv6Forwarding = host.Sysctls.Ipv6Forwarding;
        Conntrack = new ConntrackTable(ConntrackSettings.FromSysctls(host.Sysctls), unchecked((uint)options.Seed));
        IcmpRateLimit = new IcmpRateLimit(host.Sysctls);
    }

    /// <summary>The host's ICMP/ICMPv6 error rate limits (per destination and host-wide) as the packets so far left them.</summary>
    public IcmpRateLimit IcmpRateLimit { get; }

    /// <summary>The connection tracking table of this replay.</summary>
    public ConntrackTable Conntrack { get; }

    public Host Host { get; }

    private readonly Dictionary<string, HostInterface> _interfaces = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _rpFilter = new(StringComparer.Ordinal);

    /// <summary>
    /// Which iptables loaded the rules: the options' choice, else the ruleset's dump's, else iptables-nft (set by the
    /// engine before it compiles the rules).
    /// </summary>
    public IptablesBackend Backend { get; internal set; } = IptablesBackend.Nft;

    /// <summary>net.ipv4.ip_forward, read once.</summary>
    public bool IpForward { get; }

    /// <summary>net.ipv6.conf.all.forwarding, read once.</summary>
    public bool Ipv6Forwarding { get; }

    /// <summary>The host's interface by name (first one listed when names repeat), or null.</summary>
    public HostInterface? Interface(string? name)
    {
        // Packets of one capture share their interface names' strings, and a forwarded packet asks for the one it came
        // in on and the one it leaves by: the last two answers are usually the next ones.
        if (ReferenceEquals(name, _lastName)) return _lastInterface;
        if (ReferenceEquals(name, _previousName)) return _previousInterface;
        if (name is null) return null;
        _interfaces.TryGetValue(name, out var found);
        (_previousName, _previousInterface) = (_lastName, _lastInterface);
        (_lastName, _lastInterface) = (name, found);
        return found;
    }

    private string? _lastName, _previousName;
    private HostInterface? _lastInterface, _previousInterface;

    /// <summary>
    /// The MTU of the host's interface <paramref name="device"/> for <paramref name="family"/>: for IPv6 its
    /// net.ipv6.conf.DEV.mtu when the host gives one, else the device MTU; null for a device the host does not list.
    /// Read once per device.
    /// </summary>
    public int? DeviceMtu(string? device, Family family)
    {
        var iface = Interface(device);
        if (iface is null) return null;
        if (family != Family.IPv6) return iface.Mtu;
        if (!_mtu6.TryGetValue(iface.Name, out int mtu))
        {
            long mtu6 = Host.Sysctls.GetLong($"net.ipv6.conf.{iface.Name}.mtu", 0);
            _mtu6[iface.Name] = mtu = mtu6 > 0 ? (int)Math.Min(mtu6, int.MaxValue) : iface.Mtu;
        }
        return mtu;
    }

    private readonly Dictionary<string, int> _mtu6 = new(StringComparer.Ordinal);

    /// <summary>rp_filter of an interface (max of conf.all and conf.IFACE), read once per interface.</summary>
    public int RpFilter(string iface)
    {
        if (ReferenceEquals(iface, _lastRpName)) return _lastRp;
        if (!_rpFilter.TryGetValue(iface, out var v)) _rpFilter[iface] = v = Host.Sysctls.RpFilter(iface);
        _lastRpName = iface;
        _lastRp = v;
        return v;
    }

    private string? _lastRpName;
    private int _lastRp;

    public EngineOptions Options { get; }

    public Fib Fib { get; }

    /// <summary>The case's one random source (statistic --mode random, NAT --random). Used in packet order only.</summary>
    public Random Random { get; }

    public IpSets Sets { get; }

    /// <summary>The ipsets as they are now: the case's sets, changed by -j SET --add-set/--del-set as packets go by.</summary>
    public Dictionary<string, LiveIpSet> LiveSets { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Called with every captured packet's time: the first one starts the ipsets' clock (the case's ipset file describes
    /// the sets at the capture's start, so its entry timeouts count from there).
    /// </summary>
    public void Observe(Timestamp now)
    {
        if (_observed) return;
        _observed = true;
        foreach (var set in LiveSets.Values) set.Start(now);
    }

    private bool _observed;

    /// <summary>The `-m recent` lists by name (shared by every rule naming the same list, as in the kernel).</summary>
    public Dictionary<string, object> RecentTables { get; } = new(StringComparer.Ordinal);
}
