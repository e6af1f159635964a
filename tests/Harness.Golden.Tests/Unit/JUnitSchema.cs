using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;

namespace Harness.Golden.Tests;

/// <summary>
/// The JUnit XML schema that Jenkins' JUnit plugin and GitLab read (testsuites → testsuite → testcase with
/// failure/error/skipped/system-out), written here as an XSD and validated with System.Xml.Schema.
/// </summary>
public static class JUnitSchema
{
    private const string Xsd = """
        <?xml version="1.0" encoding="UTF-8"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
          <xs:complexType name="problem" mixed="true">
            <xs:attribute name="message" type="xs:string"/>
            <xs:attribute name="type" type="xs:string"/>
          </xs:complexType>
          <xs:element name="testcase">
            <xs:complexType>
              <xs:sequence>
                <xs:choice minOccurs="0" maxOccurs="unbounded">
                  <xs:element name="skipped" type="problem"/>
                  <xs:element name="error" type="problem"/>
                  <xs:element name="failure" type="problem"/>
                  <xs:element name="system-out" type="xs:string"/>
                  <xs:element name="system-err" type="xs:string"/>
                </xs:choice>
              </xs:sequence>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="classname" type="xs:string" use="required"/>
              <xs:attribute name="assertions" type="xs:string"/>
              <xs:attribute name="time" type="xs:decimal"/>
              <xs:attribute name="status" type="xs:string"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="testsuite">
            <xs:complexType>
              <xs:sequence>
                <xs:element name="properties" minOccurs="0"/>
                <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
                <xs:element name="system-out" type="xs:string" minOccurs="0"/>
                <xs:element name="system-err" type="xs:string" minOccurs="0"/>
              </xs:sequence>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
              <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
              <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
              <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
              <xs:attribute name="time" type="xs:decimal"/>
              <xs:attribute name="timestamp" type="xs:string"/>
              <xs:attribute name="hostname" type="xs:string"/>
              <xs:attribute name="id" type="xs:string"/>
              <xs:attribute name="package" type="xs:string"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="testsuites">
            <xs:complexType>
              <xs:sequence>
                <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
              </xs:sequence>
              <xs:attribute name="name" type="xs:string"/>
              <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
              <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
              <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
              <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
              <xs:attribute name="time" type="xs:decimal"/>
            </xs:complexType>
          </xs:element>
        </xs:schema>
        """;

    public static void AssertValid(XDocument document)
    {
        var schemas = new XmlSchemaSet();
        using (var reader = XmlReader.Create(new StringReader(Xsd))) schemas.Add("", reader);
        var errors = new List<string>();
        document.Validate(schemas, (_, e) => errors.Add(e.Message));
        Assert.Empty(errors);
        var root = document.Root!;
        Assert.Equal("testsuites", root.Name.LocalName);
        // Counts agree with the children, as CI servers recompute them.
        foreach (var suite in root.Elements("testsuite"))
        {
            var cases = suite.Elements("testcase").ToList();
            Assert.Equal(cases.Count, int.Parse(suite.Attribute("tests")!.Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(cases.Count(c => c.Element("failure") is not null), int.Parse(suite.Attribute("failures")!.Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(cases.Count(c => c.Element("error") is not null), int.Parse(suite.Attribute("errors")!.Value, System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
