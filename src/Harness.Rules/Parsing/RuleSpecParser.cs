using System.Collections.Immutable;
using System.Globalization;
using Harness.Net;
using Harness.Rules.Extensions;

namespace Harness.Rules.Parsing;

/// <summary>A parsed rule specification: the header matches, the "-m" matches in order, and the target (null: none).</summary>
public sealed record RuleSpec(IpHeaderMatch Ip, ImmutableArray<MatchExtension> Matches, Target? Target)
{
    /// <summary>Counters given with -c/--set-counters PACKETS BYTES, if any.</summary>
    public Counters? Counters { get; init; }

    /// <summary>The canonical iptables-save text of the spec (what follows "-A CHAIN ").</summary>
    public string Print(Family family) => RuleSpecPrinter.Print(Ip, Matches, Target, family);

    public bool Equals(RuleSpec? other) =>
        other is not null && Ip == other.Ip && Target == other.Target && Matches.SequenceEqual(other.Matches) && Counters == other.Counters;

    public override int GetHashCode() => HashCode.Combine(Ip, Target, Matches.Length, Counters);
}

/// <summary>
/// Parses the words of one rule specification (what follows "-A CHAIN") the way iptables 1.8.9 does: getopt-style
/// options (long names may be abbreviated, "--opt=value", "-pVALUE"), "!" before the option it negates, extension
/// options dispatched to the most recently loaded extension owning them, and the protocol's match loaded on demand.
/// </summary>
public static class RuleSpecParser
{
    /// <summary>Parses a spec; comma lists in -s/-d expand to one spec per source × destination, as iptables does.</summary>
    public static IReadOnlyList<RuleSpec> ParseAll(IReadOnlyList<Token> words, RuleContext context)
    {
        var reader = new SpecReader(words, context);
        return reader.Read();
    }

    /// <summary>Parses a spec that must describe exactly one rule (no address lists), as -D/-R/-I take it.</summary>
    public static RuleSpec Parse(IReadOnlyList<Token> words, RuleContext context)
    {
        var all = ParseAll(words, context);
        if (all.Count != 1)
            throw new RuleSyntaxException("multiple source or destination IP addresses not allowed", 1);
        return all[0];
    }

    /// <summary>The built-in (non-extension) long options of iptables, with the short option each stands for.</summary>
    private static readonly (string Name, char Short)[] BaseOptions =
    [
        ("source", 's'), ("src", 's'), ("destination", 'd'), ("dst", 'd'), ("in-interface", 'i'), ("out-interface", 'o'),
        ("protocol", 'p'), ("fragment", 'f'), ("match", 'm'), ("jump", 'j'), ("goto", 'g'), ("set-counters", 'c'),
        // Command-level options: they take part in getopt's abbreviation matching but do not belong in a rule spec.
        ("append", 'A'), ("check", 'C'), ("delete", 'D'), ("delete-chain", 'X'), ("insert", 'I'), ("replace", 'R'),
        ("list", 'L'), ("list-rules", 'S'), ("flush", 'F'), ("zero", 'Z'), ("new-chain", 'N'), ("policy", 'P'),
        ("rename-chain", 'E'), ("table", 't'), ("numeric", 'n'), ("verbose", 'v'), ("version", 'V'), ("help", 'h'),
        ("line-numbers", '0'), ("exact", 'x'), ("wait", 'w'), ("wait-interval", 'W'), ("modprobe", 'M'),
        ("ipv4", '4'), ("ipv6", '6'),
    ];

    private const string RuleOptionLetters = "sdiopfmjgc";

    private sealed class LoadedExtension(string name, ExtensionParser parser, int column, bool isTarget)
    {
        public string Name { get; } = name;
        public ExtensionParser Parser { get; } = parser;
        public int Column { get; } = column;
        public bool IsTarget { get; } = isTarget;
    }

    private sealed class SpecReader(IReadOnlyList<Token> input, RuleContext context)
    {
        private readonly List<Token> _words = [.. input];
        private readonly List<LoadedExtension> _loaded = [];
        private readonly List<(Cidr Cidr, int Column)> _sources = [];
        private readonly List<(Cidr Cidr, int Column)> _destinations = [];
        private bool _sourceNegated, _destinationNegated;
        private Negatable<InterfaceName>? _in, _out;
        private Negatable<byte>? _protocol;
        private Negatable<bool>? _fragment;
        private Target? _target;
        private int _targetColumn;
        private Counters? _counters;
        private bool _protocolMatchLoaded;
        private readonly HashSet<char> _given = [];
        private int _index;

        private Family Family => context.Family;

        public IReadOnlyList<RuleSpec> Read()
        {
            bool invert = false;
            int invertColumn = 0;
            while (_index < _words.Count)
            {
                var word = _words[_index];
                // Quotes do not matter here: the shell (or iptables-restore) removed them before getopt saw the word.
                if (word.Text == "!")
                {
                    if (invert) throw new RuleSyntaxException("multiple consecutive ! not allowed", word.Column);
                    invert = true;
                    invertColumn = word.Column;
                    _index++;
                    continue;
                }
                if (word.Text.Length < 2 || word.Text[0] != '-')
                    throw new RuleSyntaxException($"Bad argument `{word.Text}'", word.Column);
                _index++;
                if (word.Text.StartsWith("--", StringComparison.Ordinal)) ReadLongOption(word, invert);
                else ReadShortOption(word, invert);
                invert = false;
            }
            if (invert) throw new RuleSyntaxException("nothing appropriate following !", invertColumn);
            return Finish();
        }

        private void ReadShortOption(Token word, bool invert)
        {
            char letter = word.Text[1];
            if (word.Text.Length > 2)
            {
                // getopt: "-ptcp" is "-p tcp" for options that take an argument.
                if (RuleOptionLetters.Contains(letter) && letter != 'f')
                {
                    _words.Insert(_index, new Token(word.Text[2..], word.Column + 2));
                }
                else throw new RuleSyntaxException($"unknown option \"{word.Text}\"", word.Column);
            }
            if (!RuleOptionLetters.Contains(letter))
                throw new RuleSyntaxException(
                    BaseOptions.Any(o => o.Short == letter)
                        ? $"option \"-{letter}\" is a command option, not part of a rule specification"
                        : $"unknown option \"{word.Text}\"", word.Column);
            ReadBaseOption(letter, "-" + letter, word, invert);
        }

        private void ReadLongOption(Token word, bool invert)
        {
            var name = word.Text[2..];
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                _words.Insert(_index, new Token(name[(eq + 1)..], word.Column + 3 + eq));
                name = name[..eq];
            }
            while (true)
            {
                var resolved = Resolve(name);
                if (resolved.Ambiguous) throw new RuleSyntaxException($"unknown option \"--{name}\"", word.Column);
                if (resolved.Base is char letter)
                {
                    if (!RuleOptionLetters.Contains(letter))
                        throw new RuleSyntaxException($"option \"--{resolved.FullName}\" is a command option, not part of a rule specification", word.Column);
                    ReadBaseOption(letter, "--" + resolved.FullName, word, invert);
                    return;
                }
                if (resolved.Owner is not null)
                {
                    var args = new OptionArguments(_words, _index, "--" + resolved.FullName);
                    resolved.Owner.Parser.Parse(resolved.FullName!, invert, args);
                    _index = args.Index;
                    return;
                }
                if (!TryLoadProtocolMatch(word.Column))
                    throw new RuleSyntaxException($"unknown option \"--{name}\"", word.Column);
            }
        }

        private readonly record struct Resolution(char? Base, LoadedExtension? Owner, string? FullName, bool Ambiguous);

        /// <summary>getopt_long over the merged option table: base options, then the newest extension first.</summary>
        private Resolution Resolve(string name)
        {
            foreach (var (n, c) in BaseOptions)
                if (n == name) return new Resolution(c, null, n, false);
            for (int i = _loaded.Count - 1; i >= 0; i--)
                if (_loaded[i].Parser.Options.Contains(name)) return new Resolution(null, _loaded[i], name, false);
            if (name.Length == 0) return default;
            var candidates = new List<(char? Base, LoadedExtension? Owner, string Name, string Key)>();
            foreach (var (n, c) in BaseOptions)
                if (n.StartsWith(name, StringComparison.Ordinal)) candidates.Add((c, null, n, "base:" + c));
            for (int i = _loaded.Count - 1; i >= 0; i--)
                foreach (var n in _loaded[i].Parser.Options)
                    if (n.StartsWith(name, StringComparison.Ordinal)) candidates.Add((null, _loaded[i], n, OptionKey(i, n)));
            if (candidates.Count == 0) return default;
            if (candidates.Select(c => c.Key).Distinct().Count() > 1) return new Resolution(null, null, null, true);
            var first = candidates[0];
            return new Resolution(first.Base, first.Owner, first.Name, false);
        }

        /// <summary>Aliases of one option share a key (getopt does not call them ambiguous).</summary>
        private string OptionKey(int extensionIndex, string name) =>
            extensionIndex.ToString(CultureInfo.InvariantCulture) + ":" + _loaded[extensionIndex].Parser.CanonicalOptionName(name);

        /// <summary>iptables' load_proto: an option nobody owns makes "-p NAME" load the match NAME, once.</summary>
        private bool TryLoadProtocolMatch(int column)
        {
            if (_protocol is null || _protocolMatchLoaded) return false;
            _protocolMatchLoaded = true;
            var name = ProtocolMatchName(_protocol.Value.Value);
            if (name is null) return false;
            if (_loaded.Any(l => !l.IsTarget && l.Name == name)) return false;
            var definition = ExtensionRegistry.FindMatch(name, Family);
            if (definition is null) return false;
            _loaded.Add(new LoadedExtension(definition.Name, (ExtensionParser)definition.Create(), column, false));
            return true;
        }

        private string? ProtocolMatchName(byte protocol) => protocol switch
        {
            IpProtocol.Tcp => "tcp",
            IpProtocol.Udp => "udp",
            IpProtocol.Sctp => "sctp",
            IpProtocol.Icmp when Family == Family.IPv4 => "icmp",
            IpProtocol.Icmpv6 when Family == Family.IPv6 => "icmp6",
            IpProtocol.UdpLite => "udplite",
            IpProtocol.Esp => "esp",
            IpProtocol.Ah => "ah",
            33 => "dccp",
            IpProtocol.Mh => "mh",
            _ => null,
        };

        private string NextArgument(string option, Token word)
        {
            if (_index >= _words.Count)
                throw new RuleSyntaxException($"option \"{option}\" requires an argument", word.Column);
            return _words[_index++].Text;
        }

        private void Once(char letter, Token word)
        {
            if (!_given.Add(letter))
                throw new RuleSyntaxException($"multiple -{letter} flags not allowed", word.Column);
        }

        private void ReadBaseOption(char letter, string option, Token word, bool invert)
        {
            switch (letter)
            {
                case 's':
                    Once('s', word);
                    _sourceNegated = invert;
                    ReadAddresses(NextArgument(option, word), _sources);
                    break;
                case 'd':
                    Once('d', word);
                    _destinationNegated = invert;
                    ReadAddresses(NextArgument(option, word), _destinations);
                    break;
                case 'i':
                    Once('i', word);
                    _in = new Negatable<InterfaceName>(ReadInterface(NextArgument(option, word)), invert);
                    break;
                case 'o':
                    Once('o', word);
                    _out = new Negatable<InterfaceName>(ReadInterface(NextArgument(option, word)), invert);
                    break;
                case 'p':
                    Once('p', word);
                    _protocol = new Negatable<byte>(ReadProtocol(NextArgument(option, word), invert), invert);
                    break;
                case 'f':
                    if (Family == Family.IPv6)
                        throw new RuleSyntaxException("`-f' is not supported in IPv6, use -m frag instead", word.Column);
                    Once('f', word);
                    _fragment = new Negatable<bool>(true, invert);
                    break;
                case 'm':
                    if (invert) throw new RuleSyntaxException("unexpected ! flag before --match", word.Column);
                    LoadMatch(NextArgument(option, word), word);
                    break;
                case 'j':
                case 'g':
                    if (invert) throw new RuleSyntaxException($"cannot have ! before {option}", word.Column);
                    if (_target is not null) throw new RuleSyntaxException("multiple -j flags not allowed", word.Column);
                    LoadTarget(NextArgument(option, word), letter == 'g', word);
                    break;
                case 'c':
                    if (invert) throw new RuleSyntaxException("cannot have ! before -c", word.Column);
                    Once('c', word);
                    _counters = ReadCounters(option, word);
                    break;
            }
        }

        /// <summary>-c PACKETS BYTES, or -c PACKETS,BYTES.</summary>
        private Counters ReadCounters(string option, Token word)
        {
            var packets = NextArgument(option, word);
            string bytes;
            var comma = packets.IndexOf(',');
            if (comma >= 0)
            {
                bytes = packets[(comma + 1)..];
                packets = packets[..comma];
            }
            else
            {
                if (_index >= _words.Count)
                    throw new RuleSyntaxException("-c requires packet and byte counter", word.Column);
                bytes = _words[_index++].Text;
            }
            if (packets.Length == 0 || bytes.Length == 0)
                throw new RuleSyntaxException("-c requires packet and byte counter", word.Column);
            if (!ulong.TryParse(packets, NumberStyles.None, CultureInfo.InvariantCulture, out var p))
                throw new RuleSyntaxException("-c packet counter not numeric", word.Column);
            if (!ulong.TryParse(bytes, NumberStyles.None, CultureInfo.InvariantCulture, out var b))
                throw new RuleSyntaxException("-c byte counter not numeric", word.Column);
            return new Counters(p, b);
        }

        private void ReadAddresses(string text, List<(Cidr, int)> into)
        {
            int column = _words[_index - 1].Column;
            foreach (var part in text.Split(','))
            {
                // iptables masks the address before handing it to the kernel; the model keeps what the kernel keeps.
                if (Values.TryCidr(part, Family, out var cidr)) { into.Add((new Cidr(cidr.Network, cidr.PrefixLength), column)); continue; }
                var slash = part.IndexOf('/');
                if (slash >= 0 && Values.TryAddress(part[..slash], Family, out _))
                {
                    var maskText = part[(slash + 1)..];
                    if (Values.TryAddress(maskText, Family, out _))
                        throw new RuleSyntaxException($"non-contiguous mask `{maskText}' is not supported by Harness", column);
                    throw new RuleSyntaxException($"invalid mask `{maskText}' specified", column);
                }
                throw new RuleSyntaxException($"host/network `{part}' not found", column);
            }
        }

        private InterfaceName ReadInterface(string text)
        {
            int column = _words[_index - 1].Column;
            if (text.Length > 15)
                throw new RuleSyntaxException($"interface name `{text}' must be shorter than IFNAMSIZ (15)", column);
            if (text.Length == 0)
                throw new RuleSyntaxException("interface name must not be empty", column);
            return new InterfaceName(text);
        }

        private byte ReadProtocol(string text, bool invert)
        {
            int column = _words[_index - 1].Column;
            if (!ProtocolNames.TryParse(text, out var number))
                throw new RuleSyntaxException($"unknown protocol \"{text}\" specified", column);
            if (number == 0 && invert)
                throw new RuleSyntaxException("rule would never match protocol", column);
            return number;
        }

        private void LoadMatch(string name, Token word)
        {
            var definition = ExtensionRegistry.FindMatch(name, Family);
            if (definition is null)
            {
                var otherFamily = Family == Family.IPv4 ? Family.IPv6 : Family.IPv4;
                if (ExtensionRegistry.IsKnownUnsupportedMatch(name) && ExtensionRegistry.FindMatch(name, otherFamily) is null)
                    throw new RuleSyntaxException($"match `{name}' is not supported by Harness", word.Column);
                throw new RuleSyntaxException($"Couldn't load match `{name}':No such file or directory", word.Column);
            }
            if (definition.Name == ProtocolMatchNameOrNull()) _protocolMatchLoaded = true;
            _loaded.Add(new LoadedExtension(definition.Name, (ExtensionParser)definition.Create(), word.Column, false));
        }

        private string? ProtocolMatchNameOrNull() => _protocol is { } p ? ProtocolMatchName(p.Value) : null;

        private void LoadTarget(string name, bool isGoto, Token word)
        {
            _targetColumn = word.Column;
            if (isGoto)
            {
                _target = new JumpTarget(name, true);
                return;
            }
            switch (name)
            {
                case "ACCEPT": _target = new VerdictTarget(Verdict.Accept); return;
                case "DROP": _target = new VerdictTarget(Verdict.Drop); return;
                case "RETURN": _target = new VerdictTarget(Verdict.Return); return;
                case "QUEUE": _target = new VerdictTarget(Verdict.Queue); return;
            }
            var definition = ExtensionRegistry.FindTarget(name, Family);
            if (definition is null)
            {
                var otherFamily = Family == Family.IPv4 ? Family.IPv6 : Family.IPv4;
                if (ExtensionRegistry.IsKnownUnsupportedTarget(name) && ExtensionRegistry.FindTarget(name, otherFamily) is null)
                    throw new RuleSyntaxException($"target `{name}' is not supported by Harness", word.Column);
                _target = new JumpTarget(name, false);
                return;
            }
            _target = new PendingTarget(definition);
            _loaded.Add(new LoadedExtension(definition.Name, (ExtensionParser)definition.Create(), word.Column, true));
        }

        /// <summary>A placeholder until the target's options are all read.</summary>
        private sealed record PendingTarget(TargetDefinition Definition) : Target
        {
            public override void Save(SaveWriter writer) => throw new InvalidOperationException("target not finished");
        }

        private IReadOnlyList<RuleSpec> Finish()
        {
            var finalContext = context with { Protocol = _protocol };
            CheckInterfacesForChain();
            var matches = ImmutableArray.CreateBuilder<MatchExtension>();
            Target? target = _target;
            foreach (var loaded in _loaded)
            {
                try
                {
                    if (loaded.IsTarget) target = ((ITargetParser)loaded.Parser).Finish(finalContext);
                    else matches.Add(((IMatchParser)loaded.Parser).Finish(finalContext));
                }
                catch (RuleSyntaxException e) when (e.Column == 0)
                {
                    throw new RuleSyntaxException(e.Message, loaded.Column);
                }
                if (loaded.IsTarget) CheckTargetPlacement(((PendingTarget)_target!).Definition, loaded.Column);
                else CheckMatchPlacement(ExtensionRegistry.FindMatch(loaded.Name, Family)!, loaded.Column);
            }
            if (target is VerdictTarget { Verdict: Verdict.Drop } && context.Table == TableNames.Nat)
                throw new RuleSyntaxException(
                    "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.", _targetColumn);
            var counters = _counters;
            var sources = _sources.Count == 0 ? [((Cidr?)null)] : _sources.Select(s => (Cidr?)s.Cidr).ToList();
            var destinations = _destinations.Count == 0 ? [((Cidr?)null)] : _destinations.Select(d => (Cidr?)d.Cidr).ToList();
            var frozen = matches.ToImmutable();
            var specs = new List<RuleSpec>();
            foreach (var s in sources)
                foreach (var d in destinations)
                {
                    var ip = new IpHeaderMatch(
                        Address(s, _sourceNegated, 's'),
                        Address(d, _destinationNegated, 'd'),
                        _in is { Value.Text: "+", Negated: false } ? null : _in,
                        _out is { Value.Text: "+", Negated: false } ? null : _out,
                        _protocol is { Value: 0, Negated: false } ? null : _protocol,
                        _fragment);
                    specs.Add(new RuleSpec(ip, frozen, target) { Counters = counters });
                }
            return specs;
        }

        /// <summary>A /0 address matches everything: iptables-nft keeps nothing of it, and refuses it negated.</summary>
        private Negatable<Cidr>? Address(Cidr? cidr, bool negated, char letter)
        {
            if (cidr is not { } c) return null;
            if (c.PrefixLength != 0) return new Negatable<Cidr>(c, negated);
            if (negated)
                throw new RuleSyntaxException(
                    $"! -{letter} with a /0 prefix never matches: iptables refuses it (Invalid argument)", ColumnOf(letter));
            return null;
        }

        private void CheckInterfacesForChain()
        {
            if (_in is not null && context.Chain is TableNames.Output or TableNames.Postrouting)
                throw new RuleSyntaxException($"Can't use -i with {context.Chain}", ColumnOf('i'));
            if (_out is not null && context.Chain is TableNames.Prerouting or TableNames.Input)
                throw new RuleSyntaxException($"Can't use -o with {context.Chain}", ColumnOf('o'));
        }

        private int ColumnOf(char letter)
        {
            foreach (var w in _words)
                if (w.Text == "-" + letter || w.Text.StartsWith("-" + letter, StringComparison.Ordinal) && w.Text.Length > 2 && w.Text[1] != '-')
                    return w.Column;
            return 1;
        }

        private bool IsBuiltinChain => TableNames.BuiltinChains(context.Table).Contains(context.Chain);

        private void CheckTargetPlacement(TargetDefinition definition, int column) =>
            CheckPlacement(definition.Name + " target", definition.Tables, definition.Hooks, column);

        private void CheckMatchPlacement(MatchDefinition definition, int column) =>
            CheckPlacement(definition.Name + " match", definition.Tables, definition.Hooks, column);

        private void CheckPlacement(string what, ImmutableArray<string> tables, ImmutableArray<string> hooks, int column)
        {
            if (!tables.IsDefaultOrEmpty && !tables.Contains(context.Table))
                throw new RuleSyntaxException(
                    $"{what}: only valid in {string.Join(" or ", tables)} table, not {context.Table}", column);
            if (!hooks.IsDefaultOrEmpty && IsBuiltinChain && !hooks.Contains(context.Chain))
                throw new RuleSyntaxException(
                    $"{what}: used from hook {context.Chain}, but only usable from {string.Join("/", hooks)}", column);
        }
    }
}
