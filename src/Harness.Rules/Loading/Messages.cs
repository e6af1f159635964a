using System.Globalization;

namespace Harness.Rules.Loading;

/// <summary>
/// Every message the loader reports, in one place. Where iptables itself refuses something, the text is iptables'
/// own (iptables-legacy 1.8.9 wording, copied from the real binary), followed where useful by the reason in brackets.
/// </summary>
internal static class Messages
{
    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    // ---- files and text ----
    public static string BinaryNul(long offset) =>
        F($"binary data (NUL byte) at byte offset {offset}: not a text ruleset; the rest of this file is ignored");
    public static string BinaryUtf8(long offset) =>
        F($"invalid UTF-8 at byte offset {offset}: not a text ruleset; the rest of this file is ignored");
    public static string LineTooLong(int max) => F($"line longer than {max} bytes; the line is ignored");
    public static string ByteOrderMark =>
        "the file starts with a UTF-8 byte order mark: iptables-restore reads it as part of the first line; save the file without it";
    public static string CannotRead(string reason) => $"cannot read the file: {reason}";
    public static string StoppedAfterErrors(int count) =>
        F($"{count} errors in this file: the rest of it is not read");
    public static string NotARulesetStopped(int lines) =>
        F($"none of the first {lines} lines is part of an iptables-save document or an iptables command: the rest of this file is not read");
    public static string TooManyErrors(int more) => F($"… {more} more errors not shown");
    public static string NotARuleset(string word) =>
        $"expected an iptables-save document (a table header such as \"*filter\") or iptables commands, found '{word}'";

    // ---- families ----
    public static string FamilyMismatch(string program, string family, string decidedBy) =>
        $"'{program}' is an {family} command but this ruleset is {decidedBy}; load IPv4 and IPv6 rulesets separately";

    public static string DumpFamilyMismatch(string family, string what, string decidedBy) =>
        $"this document is {family} ({what}) but the ruleset is {decidedBy}; load IPv4 and IPv6 rulesets separately, so this file is not loaded";

    // ---- iptables-save documents ----
    public static string UnknownTable(string name) =>
        $"iptables-restore: unable to initialize table '{name}' (expected raw, mangle, nat, filter or security)";
    public static string TableInsideTable(string name, string open, int openLine) =>
        F($"Bad argument `*{name}' (table '{open}' opened at line {openLine} needs a COMMIT first)");
    public static string MissingCommit(string table, int openLine) =>
        F($"COMMIT expected: table '{table}' opened at line {openLine} is never committed, so it is not loaded");
    public static string CommitOutsideTable => "COMMIT without a table header (expected \"*filter\" or another table first)";
    public static string ChainOutsideTable => "chain declaration outside a table (expected a table header such as \"*filter\" first)";
    public static string RuleOutsideTable => "rule outside a table (expected a table header such as \"*filter\" first)";
    public static string NotACommandInTable(string word) =>
        $"Bad argument `{word}' (expected a rule such as \"-A CHAIN …\", a chain declaration \":CHAIN POLICY [packets:bytes]\" or COMMIT alone on its line)";
    public static string BlankLineInTable =>
        "a line of only blanks inside a table: iptables-restore fails on it (remove the blanks or the line)";
    public static string BlankLineOutsideTable =>
        "a line of only blanks: iptables-restore fails on it (remove the blanks or the line)";
    public static string CrLf =>
        "CRLF line endings: iptables-restore refuses them (the carriage return becomes part of every line); convert the file with dos2unix";
    public static string ExpectedOutsideTable(string text) =>
        $"expected a table header such as \"*filter\", found '{text}'";
    public static string BadChainLine(string text) =>
        $"bad chain declaration '{text}': expected \":CHAIN POLICY [packets:bytes]\" with POLICY ACCEPT, DROP or -";
    public static string BadRuleCounters(int line) =>
        F($"Bad line {line}: need ] (counters before a rule are written \"[packets:bytes]\")");
    public static string ChainExistsInRestore(string chain) => $"error creating chain '{chain}':File exists";
    public static string PolicyOnUserChainInRestore(string policy, string chain, int line) =>
        F($"Can't set policy `{policy}' on `{chain}' line {line}: Bad built-in chain name");
    public static string BadPolicyInRestore(string policy, string chain, int line) =>
        F($"Can't set policy `{policy}' on `{chain}' line {line}: Bad policy name");
    public static string TableOptionInRestore =>
        "The -t option cannot be used in iptables-restore (the table comes from the \"*table\" line)";

    // ---- command scripts ----
    public static string NotAnIptablesCommand(string word) =>
        $"'{word}' is not an iptables command (expected iptables, ip6tables, iptables-legacy, iptables-nft, … optionally after sudo)";
    public static string UnsupportedCommand(string option) =>
        $"unsupported iptables command '{option}': only -A -I -R -D -N -X -F -Z -P -E (with -t, -w, -W, -c) change a ruleset";
    public static string OptionRequiresArgument(string option) => $"option \"{option}\" requires an argument";
    public static string TwoCommands(string second, string first) => $"Cannot use {second} with {first}";
    public static string NoCommand => "no command specified";
    public static string InvalidRuleNumber(string text) => $"Invalid rule number `{text}'";
    public static string ReplaceNeedsNumber => "-R requires a rule number";
    public static string PolicyNeedsTwo => "-P requires a chain and a policy";
    public static string RenameNeedsTwo => "-E requires old-chain-name and new-chain-name";
    public static string IllegalOption(string option) => $"Illegal option `{option}' with this command";
    public static string BadArgument(string word) => $"Bad argument `{word}'";
    public static string TableNotExist(string table) =>
        $"table '{table}' does not exist (expected raw, mangle, nat, filter or security)";
    public static string BadCounterValue(string text) => $"Bad counter value `{text}'";
    public static string ChainStartsWithDash => "chain name not allowed to start with `-'";
    public static string ChainTooLong(string name) => $"chain name `{name}' too long (must be under 29 chars)";
    public static string ChainClashesWithTarget => "chain name may not clash with target name";
    public static string InvalidChainName(string name) => $"Invalid chain name `{name}'";
    public static string ReplaceNotUnique => "Replacement rule does not specify a unique address";

    // ---- semantics (the kernel's and libiptc's answers) ----
    public static string IndexInsertTooBig => "Index of insertion too big.";
    public static string IndexReplaceTooBig => "Index of replacement too big.";
    public static string IndexDeleteTooBig => "Index of deletion too big.";
    public static string IndexCounterTooBig => "Index of counter too big.";
    public static string NoMatchingRule => "Bad rule (does a matching rule exist in that chain?).";
    public static string NoSuchChain(string chain) => $"No chain/target/match by that name. (no chain '{chain}' in this table)";
    public static string ChainAlreadyExists => "Chain already exists.";
    public static string RenameTargetExists(string name) => $"File exists. (a chain named '{name}' already exists)";
    public static string BadBuiltinChain(string chain) => $"Bad built-in chain name. ('{chain}' is not a built-in chain, so it has no policy)";
    public static string BadPolicy(string policy) =>
        $"Bad policy name. Run `dmesg' for more information. ('{policy}': a policy is ACCEPT or DROP)";
    public static string NatDrop =>
        "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.";
    public static string ChainReferenced(string chain) => $"Too many links. (chain '{chain}' is still the target of a jump or goto)";
    public static string ChainNotEmpty(string chain) => $"Directory not empty. (chain '{chain}' still has rules; flush it first)";
    public static string DeleteBuiltin(string chain) =>
        $"Invalid argument. Run `dmesg' for more information. (built-in chain '{chain}' cannot be deleted)";
    public static string MissingJumpTarget(string chain) =>
        $"Couldn't load target `{chain}':No such file or directory (no chain or target named '{chain}' in this table)";
    public static string MissingGotoTarget(string chain) =>
        $"goto '{chain}' is not a chain (no chain named '{chain}' in this table)";
    public static string JumpToBuiltin(string chain) =>
        $"Invalid argument. Run `dmesg' for more information. (a rule cannot jump to the built-in chain '{chain}')";
    public static string Loop(string chain) =>
        $"Too many levels of symbolic links. (jumps through chain '{chain}' form a loop reachable from a built-in chain)";
    public static string WrongTable(string what, string name, IEnumerable<string> tables, string table) =>
        $"Invalid argument. Run `dmesg' for more information. (kernel: {name} {what}: only valid in {string.Join("/", tables)} table, not {table})";
    public static string WrongHooks(string what, string name, IEnumerable<string> used, IEnumerable<string> allowed) =>
        $"Invalid argument. Run `dmesg' for more information. (kernel: {name} {what}: used from hooks {string.Join("/", used)}, but only usable from {string.Join("/", allowed)})";
}
