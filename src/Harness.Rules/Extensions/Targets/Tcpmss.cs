using Harness.Net;
using Harness.Rules.Parsing;

namespace Harness.Rules.Extensions;

/// <summary>-j TCPMSS: sets the MSS option of SYN packets to <see cref="Mss"/>, or (null) to the path MTU minus headers.</summary>
public sealed record TcpmssTarget(ushort? Mss) : TargetExtension
{
    public override string Name => "TCPMSS";
    public override bool IsTerminal => false;

    public bool ClampToPmtu => Mss is null;

    protected override void SaveOptions(SaveWriter w)
    {
        if (Mss is { } m) w.Word("--set-mss").Word(Values.Dec(m));
        else w.Word("--clamp-mss-to-pmtu");
    }
}

public sealed class TcpmssTargetParser : TargetParser
{
    private ushort? _mss;
    private bool _clamp;

    protected override string ExtensionName => "TCPMSS";

    public TcpmssTargetParser()
    {
        On("set-mss", (_, a) => _mss = (ushort)Values.UInt(a, "TCPMSS", ushort.MaxValue));
        Flag("clamp-mss-to-pmtu", _ => _clamp = true);
    }

    public override TargetExtension Finish(RuleContext context)
    {
        if (_mss is null == !_clamp) throw Error("TCPMSS target: exactly one of --set-mss or --clamp-mss-to-pmtu is required");
        ProtocolCheck.Require(context, "TCPMSS target: only valid for protocol 6 (-p tcp)", IpProtocol.Tcp);
        if (_clamp && context.Chain is TableNames.Prerouting or TableNames.Input)
            throw Error("TCPMSS target: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks");
        return new TcpmssTarget(_mss);
    }
}
