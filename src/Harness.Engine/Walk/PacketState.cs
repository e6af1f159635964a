using Harness.Engine.Conntrack;
using Harness.Engine.Routing;
using Harness.Net;
using Harness.Packets;

namespace Harness.Engine.Walk;

/// <summary>
/// Everything the hooks, matches and targets read and change while one packet crosses netfilter: the current
/// (possibly rewritten) packet, interfaces, mark, conntrack entry, the path so far, log lines and generated replies.
/// One packet at a time: the engine resets and reuses one instance for the captured packets (<see cref="Reset"/>), and
/// makes its own for each packet it generates in answer while the cause is still being processed.
/// </summary>
public sealed class PacketState
{
    /// <param name="pathBuffer">A list to record the path in, reused between packets (cleared here); a new one when null.</param>
    public PacketState(Packet packet, EngineRuntime runtime, List<PathStep>? pathBuffer = null)
    {
        Path = pathBuffer ?? new List<PathStep>(8);
        Runtime = runtime;
        Original = Packet = packet;
        Reset(packet);
    }

    /// <summary>
    /// Makes this the state of a fresh captured packet, as a new instance would be: every field back to its initial
    /// value, the path cleared. <paramref name="packet"/> null only forgets the last packet (nothing may use the state then).
    /// </summary>
    internal void Reset(Packet? packet)
    {
        Path.Clear();
        Original = packet!;
        Packet = packet!;
        Family = packet?.Ip?.Family ?? Family.IPv4;
        Dirty = false;
        Hook = default;
        Table = "";
        InInterface = null;
        OutInterface = null;
        LocallyGenerated = false;
        Mark = 0;
        Route = null;
        Conntrack = null;
        Template = CtTemplate.Default;
        RawTemplateIgnored = false;
        Traced = false;
        Owner = null;
        Log = null;
        Generated = null;
        Rejected = false;
        RejectReply = null;
        ReplySuppressed = null;
        FilterDecision = null;
        RuleDecision = null;
        AnyDecision = null;
        IsGeneratedPacket = false;
        GeneratedDepth = 0;
        OwnedBuffer = null;
        HotDrop = null;
    }

    /// <summary>
    /// Set by a match that finds the packet malformed where the kernel's match sets hotdrop: the table stops at that
    /// rule (which does not count the packet) and drops the packet; the text is the outcome's reason.
    /// </summary>
    public string? HotDrop { get; set; }

    public EngineRuntime Runtime { get; }

    /// <summary>The chain walker's jump stack (chain, next rule), kept for the next packet: see <see cref="ChainWalker"/>.</summary>
    internal (CompiledChain Chain, int Next)[]? WalkStack;

    /// <summary>The packet as received, before any rewrite.</summary>
    public Packet Original { get; private set; }

    /// <summary>The packet as it is now (after NAT and mangle rewrites).</summary>
    public Packet Packet { get; set; }

    /// <summary>True when a rewrite changed header fields and <see cref="Packet"/>.Raw must be rebuilt before output.</summary>
    public bool Dirty { get; set; }

    public Family Family { get; private set; }

    public IpHeader Ip => Packet.Ip!;

    public Timestamp Now => Packet.Time;

    public Hook Hook { get; set; }

    /// <summary>The table whose chains are being walked (raw, mangle, nat, filter, security).</summary>
    public string Table { get; set; } = "";

    public string? InInterface { get; set; }

    public string? OutInterface { get; set; }

    /// <summary>True for a packet this host originates (OUTPUT path).</summary>
    public bool LocallyGenerated { get; set; }

    public uint Mark { get; set; }

    /// <summary>The route chosen so far (after PREROUTING for arrivals, before OUTPUT for local packets).</summary>
    public RouteResult? Route { get; set; }

    /// <summary>What conntrack attached to the packet; null before the conntrack step.</summary>
    public CtPacket? Conntrack { get; set; }

    /// <summary>What the raw table asked of conntrack (NOTRACK, CT --zone, CT --helper).</summary>
    public CtTemplate Template { get; set; } = CtTemplate.Default;

    /// <summary>
    /// True for a reply the host generated in answer to an UNTRACKED packet: the kernel's nf_ct_attach leaves the
    /// reply's skb->_nfct non-zero without an entry, so conntrack tracks it afresh but raw's NOTRACK and CT do nothing.
    /// </summary>
    public bool RawTemplateIgnored { get; set; }

    /// <summary>Set by -j TRACE in raw: the kernel would log every rule; the path is always recorded anyway.</summary>
    public bool Traced { get; set; }

    /// <summary>The socket owner for locally generated packets, when the case gives one.</summary>
    public SocketOwner? Owner { get; set; }

    /// <summary>TCPMSS / TOS / TTL targets changed the packet; the outcome shows the rewritten packet.</summary>
    public List<PathStep> Path { get; }

    public List<string>? Log { get; set; }

    /// <summary>Packets the engine generated because of this one (REJECT replies, ICMP errors), with the outcome of each.</summary>
    public List<Outcome>? Generated { get; set; }

    /// <summary>Set by REJECT: the drop is a rejection (with <see cref="RejectReply"/> when the kernel sends one).</summary>
    public bool Rejected { get; set; }

    /// <summary>The REJECT reply to send when the current verdict is a REJECT (null when the kernel sends none).</summary>
    public Packet? RejectReply { get; set; }

    /// <summary>The rate limit that held back the ICMP error this packet caused (see <see cref="IcmpRateLimit"/>), or null.</summary>
    public string? ReplySuppressed { get; set; }

    /// <summary>The filter table's last decision (what an ACCEPT outcome names as its deciding rule).</summary>
    public WalkResult? FilterDecision { get; set; }

    /// <summary>The last decision made by a rule (not a policy) in any table.</summary>
    public WalkResult? RuleDecision { get; set; }

    /// <summary>The last decision of any table walk.</summary>
    public WalkResult? AnyDecision { get; set; }

    /// <summary>True for a packet the engine made (REJECT reply, ICMP error).</summary>
    public bool IsGeneratedPacket { get; set; }

    /// <summary>How many answers deep this generated packet is (0 for captured packets).</summary>
    public int GeneratedDepth { get; set; }

    public void AddLog(string line) => (Log ??= []).Add(line);

    public void AddGenerated(Outcome outcome) => (Generated ??= []).Add(outcome);

    /// <summary>
    /// Replaces the packet by a rewritten copy. Rewrites patch the bytes too when the packet has them; a packet without
    /// bytes is marked <see cref="Dirty"/> so its bytes are built once at the end.
    /// </summary>
    public void Rewrite(Packet rewritten)
    {
        Packet = rewritten;
        if (!HeaderRewrite.HasBytes(rewritten) || !Runtime.Options.RebuildBytes) Dirty = true;
    }

    /// <summary>
    /// The byte array behind <see cref="Packet"/>.Raw when a rewrite of this packet made it (a copy nobody else has
    /// seen yet): later rewrites of the same packet patch it in place instead of copying the bytes again.
    /// </summary>
    internal byte[]? OwnedBuffer { get; set; }

    /// <summary>The packet's own copy of its bytes when it has one (a rewriter may patch it in place), else null (copy first).</summary>
    internal byte[]? OwnBytes() => OwnedBuffer is { } owned && ArrayOf(Packet.Raw) == owned ? owned : null;

    /// <summary>
    /// <see cref="Rewrite"/> for a packet a rewriter made from <see cref="OwnBytes"/>: when its bytes are a new array
    /// (the rewriter's copy) or still the packet's own copy, later rewrites may patch them in place.
    /// </summary>
    internal void RewriteOwned(Packet rewritten)
    {
        var before = ArrayOf(Packet.Raw);
        var owned = OwnBytes();
        Rewrite(rewritten);
        var after = ArrayOf(rewritten.Raw);
        OwnedBuffer = after is not null && (after != before || after == owned) ? after : null;
    }

    /// <summary>The whole array behind <paramref name="raw"/>, or null when it is only part of one (or not an array).</summary>
    private static byte[]? ArrayOf(ReadOnlyMemory<byte> raw) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(raw, out var segment) && segment.Array is { } array
        && segment.Offset == 0 && segment.Count == array.Length && array.Length > 0 ? array : null;
}
