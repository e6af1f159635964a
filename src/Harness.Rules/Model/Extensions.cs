namespace Harness.Rules;

/// <summary>
/// A parsed "-m NAME …" match: an immutable record per extension (one file per extension under Extensions/),
/// holding the options exactly as the kernel would see them after iptables' own parsing.
/// </summary>
public abstract record MatchExtension
{
    /// <summary>The module name as iptables-save prints it after "-m".</summary>
    public abstract string Name { get; }

    /// <summary>Writes "-m NAME" and the options in iptables-save's canonical order and spelling.</summary>
    public virtual void Save(SaveWriter writer)
    {
        writer.Word("-m").Word(Name);
        SaveOptions(writer);
    }

    /// <summary>Writes the options only (after "-m NAME").</summary>
    protected abstract void SaveOptions(SaveWriter writer);
}

/// <summary>What a rule does when it matches: a verdict, a jump/goto, or an extension target.</summary>
public abstract record Target
{
    /// <summary>Writes "-j NAME …" or "-g CHAIN" canonically.</summary>
    public abstract void Save(SaveWriter writer);
}

/// <summary>The standard verdicts of "-j".</summary>
public enum Verdict
{
    Accept,
    Drop,
    Return,
    Queue,
}

/// <summary>-j ACCEPT, DROP, RETURN or QUEUE.</summary>
public sealed record VerdictTarget(Verdict Verdict) : Target
{
    public string Name => Verdict switch
    {
        Verdict.Accept => "ACCEPT",
        Verdict.Drop => "DROP",
        Verdict.Return => "RETURN",
        _ => "QUEUE",
    };

    public override void Save(SaveWriter writer) => writer.Word("-j").Word(Name);
}

/// <summary>-j USERCHAIN (IsGoto false) or -g USERCHAIN (IsGoto true).</summary>
public sealed record JumpTarget(string Chain, bool IsGoto) : Target
{
    public override void Save(SaveWriter writer) => writer.Word(IsGoto ? "-g" : "-j").Word(Chain);
}

/// <summary>An extension target such as REJECT, DNAT, LOG, MARK: one record per extension under Extensions/.</summary>
public abstract record TargetExtension : Target
{
    /// <summary>The target name as iptables-save prints it after "-j".</summary>
    public abstract string Name { get; }

    /// <summary>True for targets that end the traversal (REJECT, DNAT, SNAT, …); false for LOG, MARK, ….</summary>
    public abstract bool IsTerminal { get; }

    public override void Save(SaveWriter writer)
    {
        writer.Word("-j").Word(Name);
        SaveOptions(writer);
    }

    protected abstract void SaveOptions(SaveWriter writer);
}
