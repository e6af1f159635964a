using System.Globalization;
using System.Text;
using System.Xml;

namespace Harness.Golden.Check;

/// <summary>
/// JUnit XML as CI servers read it (Jenkins/GitLab/GitHub test reporters): testsuites → testsuite → testcase with
/// failure/error/skipped children. No timestamps, durations or host names, so two runs write identical bytes.
/// </summary>
public static class JUnitWriter
{
    public const string SuiteName = "harness.check";

    public static string ToXml(CheckReport report)
    {
        var settings = new XmlWriterSettings
        {
            Encoding = new UTF8Encoding(false),
            Indent = true,
            IndentChars = "  ",
            NewLineChars = "\n",
            NewLineHandling = NewLineHandling.Entitize,
        };
        using var stream = new MemoryStream();
        using (var w = XmlWriter.Create(stream, settings))
        {
            int tests = report.Cases.Length;
            int failures = report.Count(CaseStatus.Fail) + report.Count(CaseStatus.NoGolden);
            int errors = report.Count(CaseStatus.BadInput);
            w.WriteStartDocument();
            w.WriteStartElement("testsuites");
            w.WriteAttributeString("name", "harness");
            Counts(w, tests, failures, errors, 0);
            w.WriteStartElement("testsuite");
            w.WriteAttributeString("name", SuiteName);
            Counts(w, tests, failures, errors, 0);
            foreach (var c in report.Cases) WriteCase(w, c);
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteEndDocument();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public static void WriteFile(string path, CheckReport report)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, "." + Path.GetFileName(full) + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        File.WriteAllText(temp, ToXml(report), new UTF8Encoding(false));
        File.Move(temp, full, overwrite: true);
    }

    private static void Counts(XmlWriter w, int tests, int failures, int errors, int skipped)
    {
        w.WriteAttributeString("tests", tests.ToString(CultureInfo.InvariantCulture));
        w.WriteAttributeString("failures", failures.ToString(CultureInfo.InvariantCulture));
        w.WriteAttributeString("errors", errors.ToString(CultureInfo.InvariantCulture));
        w.WriteAttributeString("skipped", skipped.ToString(CultureInfo.InvariantCulture));
    }

    private static void WriteCase(XmlWriter w, CaseResult c)
    {
        w.WriteStartElement("testcase");
        w.WriteAttributeString("classname", SuiteName);
        w.WriteAttributeString("name", c.Name);
        switch (c.Status)
        {
            case CaseStatus.Fail:
                w.WriteStartElement("failure");
                w.WriteAttributeString("type", "golden-mismatch");
                w.WriteAttributeString("message", CheckText.Headline(c));
                w.WriteString(CheckText.Differences(c));
                w.WriteEndElement();
                break;
            case CaseStatus.NoGolden:
                w.WriteStartElement("failure");
                w.WriteAttributeString("type", "missing-golden");
                w.WriteAttributeString("message", CheckText.Headline(c));
                w.WriteEndElement();
                break;
            case CaseStatus.BadInput:
                w.WriteStartElement("error");
                w.WriteAttributeString("type", "bad-input");
                w.WriteAttributeString("message", c.Error ?? "bad input");
                w.WriteEndElement();
                break;
            case CaseStatus.Updated:
            case CaseStatus.Created:
                w.WriteElementString("system-out", CheckText.Headline(c));
                break;
        }
        w.WriteEndElement();
    }
}
