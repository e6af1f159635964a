using Harness.Net;

namespace Harness.Packets;

/// <summary>Which side of the host a generated packet comes from.</summary>
internal enum FlowSide
{
    /// <summary>From the client, arriving on the flow's ingress interface.</summary>
    Client,
    /// <summary>From the far side (the server, or a router on its side), arriving on the reply interface; or sent by the host itself.</summary>
    Far,
}

/// <summary>One packet a flow will send, before numbering: offset from the flow's start, side, headers, payload size.</summary>
internal sealed record PlannedPacket(
    long OffsetNs, FlowSide Side, Address Source, Address Destination, byte Protocol, byte Ttl, bool DontFragment,
    TransportHeader Transport, int PayloadLength, int QuoteIndex = -1);

/// <summary>Writes the packets of one flow as the two ends (and a router, for PMTU errors) would send them.</summary>
internal sealed class FlowScript
{
    private const ushort ClientWindow = 502, ServerWindow = 509;
    /// <summary>MSS (1460 / 1440), NOP, window scale 7, NOP, NOP, SACK permitted.</summary>
    private static readonly byte[] SynOptionsV4 = [0x02, 0x04, 0x05, 0xB4, 0x01, 0x03, 0x03, 0x07, 0x01, 0x01, 0x04, 0x02];
    private static readonly byte[] SynOptionsV6 = [0x02, 0x04, 0x05, 0xA0, 0x01, 0x03, 0x03, 0x07, 0x01, 0x01, 0x04, 0x02];

    private readonly FlowDescription flow;
    private readonly Random random;
    private readonly List<PlannedPacket> plans = [];
    private readonly long step;
    private long offset;
    private uint clientNext, serverNext;

    private FlowScript(FlowDescription flow, Random random)
    {
        this.flow = flow;
        this.random = random;
        step = Math.Max(1, (long)Math.Round(flow.Rtt * 1e9 / 2));
        ClientPort = flow.Client.Port ?? (ushort)(32768 + random.Next(28232));
        ServerPort = flow.Server.Port ?? 0;
    }

    public ushort ClientPort { get; }
    public ushort ServerPort { get; }
    private bool V6 => flow.Client.Address.Family == Family.IPv6;
    private int Mss => V6 ? 1440 : 1460;
    private byte[] SynOptions => V6 ? SynOptionsV6 : SynOptionsV4;

    /// <summary>The client as the far side sees it (after SNAT), and the server that answers (after DNAT).</summary>
    public (Address Address, ushort Port) ClientSeen => flow.HostAnswers
        ? (flow.Client.Address, ClientPort)
        : (flow.Snat?.Address ?? flow.Client.Address, flow.Snat?.Port ?? ClientPort);

    public (Address Address, ushort Port) ServerReal => flow.HostAnswers
        ? (flow.Server.Address, ServerPort)
        : (flow.Dnat?.Address ?? flow.Server.Address, flow.Dnat?.Port ?? ServerPort);

    public static (FlowScript Script, IReadOnlyList<PlannedPacket> Plans) Write(FlowDescription flow, Random random)
    {
        var script = new FlowScript(flow, random);
        script.WriteKind();
        return (script, script.plans);
    }

    private void WriteKind()
    {
        switch (flow.Kind)
        {
            case FlowKind.Tcp:
                Handshake(); Exchange(); Close(); break;
            case FlowKind.TcpHalfOpen:
                Syn(); SynAck(); break;
            case FlowKind.TcpRefused:
                Syn();
                FarTcp(0, clientNext, TcpFlags.Rst | TcpFlags.Ack, 0, 0);
                break;
            case FlowKind.TcpSimultaneousOpen:
                SimultaneousOpen(); Exchange(); Close(); break;
            case FlowKind.TcpMidstream:
                clientNext = NextUInt32(); serverNext = NextUInt32(); Exchange(); Close(); break;
            case FlowKind.TcpOutOfWindow:
                Handshake();
                ClientTcp(unchecked(clientNext + 0x4000_0000u), serverNext, TcpFlags.Psh | TcpFlags.Ack, ClientWindow, 100);
                Exchange(); Close(); break;
            case FlowKind.Udp:
                for (int i = 0; i < flow.Count; i++) UdpRound();
                break;
            case FlowKind.IcmpEcho:
                Echo(); break;
            case FlowKind.IcmpPortUnreachable:
                PortUnreachable(); break;
            case FlowKind.IcmpFragNeeded:
                FragNeeded(); break;
        }
    }

    private uint NextUInt32() => (uint)random.NextInt64(0, 1L << 32);

    private void Syn()
    {
        clientNext = NextUInt32();
        ClientTcp(clientNext, 0, TcpFlags.Syn, 64240, 0, SynOptions);
        clientNext++;
    }

    private void SynAck()
    {
        serverNext = NextUInt32();
        FarTcp(serverNext, clientNext, TcpFlags.Syn | TcpFlags.Ack, 65160, 0, SynOptions);
        serverNext++;
    }

    private void Handshake()
    {
        Syn();
        SynAck();
        ClientTcp(clientNext, serverNext, TcpFlags.Ack, ClientWindow, 0);
    }

    private void SimultaneousOpen()
    {
        uint clientIsn = NextUInt32(), serverIsn = NextUInt32();
        ClientTcp(clientIsn, 0, TcpFlags.Syn, 64240, 0, SynOptions);
        FarTcp(serverIsn, 0, TcpFlags.Syn, 65160, 0, SynOptions);
        ClientTcp(clientIsn, serverIsn + 1, TcpFlags.Syn | TcpFlags.Ack, 64240, 0, SynOptions);
        FarTcp(serverIsn, clientIsn + 1, TcpFlags.Syn | TcpFlags.Ack, 65160, 0, SynOptions);
        clientNext = clientIsn + 1;
        serverNext = serverIsn + 1;
    }

    /// <summary>The request from the client, acknowledged, then the response from the server, acknowledged.</summary>
    private void Exchange()
    {
        int request = flow.Request < 0 ? 100 : flow.Request;
        int response = flow.Response < 0 ? 500 : flow.Response;
        SendData(fromClient: true, request);
        if (request > 0) FarTcp(serverNext, clientNext, TcpFlags.Ack, ServerWindow, 0);
        SendData(fromClient: false, response);
        if (response > 0) ClientTcp(clientNext, serverNext, TcpFlags.Ack, ClientWindow, 0);
    }

    private void SendData(bool fromClient, int bytes, int segmentSize = 0)
    {
        int size = segmentSize > 0 ? segmentSize : Mss;
        while (bytes > 0)
        {
            int length = Math.Min(size, bytes);
            bytes -= length;
            var flags = bytes == 0 ? TcpFlags.Psh | TcpFlags.Ack : TcpFlags.Ack;
            if (fromClient)
            {
                ClientTcp(clientNext, serverNext, flags, ClientWindow, length);
                clientNext += (uint)length;
            }
            else
            {
                FarTcp(serverNext, clientNext, flags, ServerWindow, length);
                serverNext += (uint)length;
            }
        }
    }

    private void Close()
    {
        switch (flow.Close)
        {
            case TcpClose.Fin:
                ClientTcp(clientNext, serverNext, TcpFlags.Fin | TcpFlags.Ack, ClientWindow, 0);
                clientNext++;
                FarTcp(serverNext, clientNext, TcpFlags.Fin | TcpFlags.Ack, ServerWindow, 0);
                serverNext++;
                ClientTcp(clientNext, serverNext, TcpFlags.Ack, ClientWindow, 0);
                break;
            case TcpClose.Rst:
                ClientTcp(clientNext, serverNext, TcpFlags.Rst | TcpFlags.Ack, 0, 0);
                break;
        }
    }

    private void UdpRound()
    {
        int request = flow.Request < 0 ? 64 : flow.Request;
        int response = flow.Response < 0 ? 128 : flow.Response;
        Client(IpProtocol.Udp, new UdpHeader(ClientPort, ServerPort, 0), request);
        if (response > 0)
            Far(ServerReal.Address, IpProtocol.Udp, new UdpHeader(ServerReal.Port, ClientSeen.Port, 0), response);
    }

    private void Echo()
    {
        ushort id = (ushort)random.Next(1, 65536);
        int size = flow.Request < 0 ? 56 : flow.Request;
        byte protocol = V6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp;
        for (ushort sequence = 1; sequence <= flow.Count; sequence++)
        {
            Client(protocol, new IcmpHeader(V6 ? (byte)128 : (byte)8, 0, V6) { Identifier = id, SequenceNumber = sequence }, size);
            Far(ServerReal.Address, protocol, new IcmpHeader(V6 ? (byte)129 : (byte)0, 0, V6) { Identifier = id, SequenceNumber = sequence }, size);
        }
    }

    private void PortUnreachable()
    {
        int request = flow.Request < 0 ? 64 : flow.Request;
        int quoted = Client(IpProtocol.Udp, new UdpHeader(ClientPort, ServerPort, 0), request);
        Error(ServerReal.Address, V6 ? (byte)1 : (byte)3, V6 ? (byte)4 : (byte)3, 0, quoted);
    }

    private void FragNeeded()
    {
        int mtu = flow.Mtu > 0 ? flow.Mtu : 1280;
        int request = flow.Request < 0 ? 1400 : flow.Request;
        Handshake();
        int quoted = ClientTcp(clientNext, serverNext, TcpFlags.Psh | TcpFlags.Ack, ClientWindow, request);
        var reporter = flow.Reporter ?? throw new ArgumentException($"flow {flow.Name}: icmp-frag-needed needs a reporter address");
        Error(reporter, V6 ? (byte)2 : (byte)3, V6 ? (byte)0 : (byte)4, (uint)mtu, quoted);
        // The client resends the data in segments that fit the reported MTU.
        SendData(fromClient: true, request, mtu - (V6 ? 60 : 40));
        FarTcp(serverNext, clientNext, TcpFlags.Ack, ServerWindow, 0);
        Close();
    }

    private int ClientTcp(uint sequence, uint acknowledgment, TcpFlags flags, ushort window, int payload, byte[]? options = null) =>
        Client(IpProtocol.Tcp, new TcpHeader(ClientPort, ServerPort, sequence, acknowledgment, flags, window) { Options = options }, payload);

    private void FarTcp(uint sequence, uint acknowledgment, TcpFlags flags, ushort window, int payload, byte[]? options = null) =>
        Far(ServerReal.Address, IpProtocol.Tcp,
            new TcpHeader(ServerReal.Port, ClientSeen.Port, sequence, acknowledgment, flags, window) { Options = options }, payload);

    private int Client(byte protocol, TransportHeader transport, int payload)
    {
        plans.Add(new PlannedPacket(offset, FlowSide.Client, flow.Client.Address, flow.Server.Address, protocol, flow.Ttl,
            !V6, transport, payload));
        offset += step;
        return plans.Count - 1;
    }

    private void Far(Address source, byte protocol, TransportHeader transport, int payload)
    {
        plans.Add(new PlannedPacket(offset, FlowSide.Far, source, ClientSeen.Address, protocol, 64, !V6, transport, payload));
        offset += step;
    }

    private void Error(Address source, byte type, byte code, uint mtu, int quoteIndex)
    {
        byte protocol = V6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp;
        plans.Add(new PlannedPacket(offset, FlowSide.Far, source, ClientSeen.Address, protocol, 64, false,
            new IcmpHeader(type, code, V6) { Mtu = mtu }, 0, quoteIndex));
        offset += step;
    }
}
