using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Harness.Rules.Tests.Support;

namespace Harness.Rules.Tests.Loading;

/// <summary>
/// -A, -I [N], -R N and -D N on one chain behave like the list operations they are: a reference list model run beside
/// the loader gives the same rule order, and the same refusals (an index past the end).
/// </summary>
public class ChainOperationProperties
{
    private sealed record Op(string Kind, int Number, int Tag);

    private static Gen<Op> OpGen =>
        from kind in Gen.Elements("A", "I", "I#", "R", "D")
        from number in Gen.Choose(1, 6)
        from tag in Gen.Choose(1, 250)
        select new Op(kind, number, tag);

    [Property(MaxTest = 200, Replay = "20261122,1")]
    public Property Chain_operations_match_a_list_model() =>
        Prop.ForAll(Arb.From(Gen.ListOf(OpGen)), ops =>
        {
            var model = new List<int>();
            var script = new List<string>();
            var expectedRefused = new List<int>();
            for (int i = 0; i < ops.Count; i++)
            {
                var op = ops[i];
                var spec = $"-s 10.0.0.{op.Tag} -j ACCEPT";
                switch (op.Kind)
                {
                    case "A": script.Add($"iptables -A INPUT {spec}"); model.Add(op.Tag); break;
                    case "I": script.Add($"iptables -I INPUT {spec}"); model.Insert(0, op.Tag); break;
                    case "I#":
                        script.Add($"iptables -I INPUT {op.Number} {spec}");
                        if (op.Number - 1 > model.Count) expectedRefused.Add(i + 1); else model.Insert(op.Number - 1, op.Tag);
                        break;
                    case "R":
                        script.Add($"iptables -R INPUT {op.Number} {spec}");
                        if (op.Number > model.Count) expectedRefused.Add(i + 1); else model[op.Number - 1] = op.Tag;
                        break;
                    default:
                        script.Add($"iptables -D INPUT {op.Number}");
                        if (op.Number > model.Count) expectedRefused.Add(i + 1); else model.RemoveAt(op.Number - 1);
                        break;
                }
            }
            var result = Loads.Text(string.Join("\n", script) + "\n");
            var actual = result.RuleLines().Select(l => int.Parse(l.Split(' ')[3].Split('/')[0].Split('.')[3], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            var refused = result.Diagnostics.Select(d => d.Location.Line).ToList();
            return actual.SequenceEqual(model) && refused.SequenceEqual(expectedRefused);
        });
}

/// <summary>
/// Whatever a script of jumps and hook-limited targets leaves behind is a table the kernel accepts: printing it and
/// loading it back as an iptables-restore document (checked whole, at COMMIT) gives no error and the same text.
/// </summary>
public class IncrementalCheckProperties
{
    private static readonly string[] Chains = ["a", "b", "c"];
    private static readonly string[] Builtins = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];

    private static Gen<string> CommandGen =>
        Gen.OneOf(
            Gen.Elements(Chains).Select(c => $"iptables -t nat -N {c}"),
            from c in Gen.Elements(Chains) from t in Gen.Elements(Chains) from g in Gen.Elements("-j", "-g")
            select $"iptables -t nat -A {c} {g} {t}",
            from b in Gen.Elements(Builtins) from t in Gen.Elements(Chains) select $"iptables -t nat -A {b} -j {t}",
            from c in Gen.Elements(Chains) from t in Gen.Elements("MASQUERADE", "DNAT --to-destination 10.0.0.1", "SNAT --to-source 10.0.0.2", "REDIRECT")
            select $"iptables -t nat -A {c} -j {t}",
            from c in Gen.Elements(Chains.Concat(Builtins).ToArray()) select $"iptables -t nat -D {c} 1",
            from c in Gen.Elements(Chains.Concat(Builtins).ToArray()) select $"iptables -t nat -F {c}",
            from c in Gen.Elements(Chains) from n in Gen.Choose(1, 2) from t in Gen.Elements(Chains)
            select $"iptables -t nat -R {c} {n} -j {t}");

    [Property(MaxTest = 300, Replay = "20261122,3")]
    public Property What_a_script_leaves_is_a_table_the_kernel_accepts() =>
        Prop.ForAll(Arb.From(Gen.ListOf(CommandGen)), commands =>
        {
            var result = Loads.Text(string.Join("\n", commands) + "\n");
            var printed = Harness.Rules.Printing.SavePrinter.Print(result.Ruleset);
            var again = Loads.Text(printed);
            return (again.Success && Harness.Rules.Printing.SavePrinter.Print(again.Ruleset) == printed)
                .Label($"script:\n{string.Join("\n", commands)}\nprinted:\n{printed}\nreload errors:\n{again.Errors()}");
        });
}
