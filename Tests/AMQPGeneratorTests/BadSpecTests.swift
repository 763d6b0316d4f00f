import AMQPSpecModel
import Testing

/// Every kind of bad spec file gives its own error, naming file, line and the offending name.
@Suite struct BadSpecTests {
    func error(_ xml: String, file: String = "bad.xml") -> SpecError? {
        do {
            _ = try SpecModel.load([(file, Array(xml.utf8))])
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownFieldType() throws {
        let e = try #require(error("""
            <amqp name="t">
              <section name="s">
                <type name="thing" class="composite" source="list">
                  <descriptor name="x:thing:list" code="0x00000001:0x00000001"/>
                  <field name="size" type="unit"/>
                </type>
              </section>
            </amqp>
            """))
        #expect(e.kind == .unknownType)
        #expect(e.file == "bad.xml")
        #expect(e.line == 5)
        #expect(e.name == "unit")
        #expect(e.description == "bad.xml:5: error: unknown type: field 'size' of 'thing' has type 'unit', which no loaded file defines")
    }

    @Test func unknownSource() throws {
        let e = try #require(error("""
            <amqp name="t"><section name="s">
            <type name="handle" class="restricted" source="uint32"/>
            </section></amqp>
            """))
        #expect(e.kind == .unknownType)
        #expect(e.line == 2)
        #expect(e.name == "uint32")
    }

    @Test func duplicateDescriptorCode() throws {
        let e = try #require(error("""
            <amqp name="t"><section name="s">
            <type name="a" class="composite" source="list"><descriptor name="x:a:list" code="0x00000001:0x00000001"/></type>
            <type name="b" class="composite" source="list"><descriptor name="x:b:list" code="0x00000001:0x00000001"/></type>
            </section></amqp>
            """))
        #expect(e.kind == .duplicateDescriptor)
        #expect(e.line == 3)
        #expect(e.name == "b")
        #expect(e.message.contains("already used by 'a' at bad.xml:2"))
    }

    @Test func duplicateDescriptorAcrossFiles() throws {
        let a = #"<amqp name="a"><section name="s"><type name="a" class="composite" source="list"><descriptor name="x:a:list" code="0x00000001:0x00000001"/></type></section></amqp>"#
        let b = #"<amqp name="b"><section name="s"><type name="b" class="composite" source="list"><descriptor name="x:a:list" code="0x00000001:0x00000002"/></type></section></amqp>"#
        do {
            _ = try SpecModel.load([("a.xml", Array(a.utf8)), ("b.xml", Array(b.utf8))])
            Issue.record("a duplicate descriptor name across files was accepted")
        } catch {
            #expect(error.kind == .duplicateDescriptor)
            #expect(error.file == "b.xml")
            #expect(error.name == "b")
        }
    }

    @Test func duplicateTypeName() throws {
        let e = try #require(error("""
            <amqp name="t"><section name="s">
            <type name="handle" class="restricted" source="uint"/>
            <type name="handle" class="restricted" source="ushort"/>
            </section></amqp>
            """))
        #expect(e.kind == .duplicateName)
        #expect(e.line == 3)
        #expect(e.name == "handle")
    }

    @Test(arguments: [
        (#"<type class="restricted" source="uint"/>"#, "name"),
        (#"<type name="x" source="uint"/>"#, "class"),
        (#"<type name="x" class="restricted"/>"#, "source"),
        (#"<type name="x" class="composite" source="list"><descriptor code="0x00000000:0x00000001"/></type>"#, "name"),
        (#"<type name="x" class="composite" source="list"><descriptor name="x:x:list" code="0x00000000:0x00000001"/><field name="f"/></type>"#, "type"),
        (#"<type name="x" class="restricted" source="uint"><choice name="a"/></type>"#, "value"),
        (#"<definition name="PORT"/>"#, "value"),
    ])
    func missingAttribute(element: String, attribute: String) throws {
        let e = try #require(error("<amqp name=\"t\"><section name=\"s\">\n\(element)\n</section></amqp>"))
        #expect(e.kind == .missingAttribute)
        #expect(e.line == 2)
        #expect(e.name == attribute)
    }

    @Test(arguments: [
        "<amqp name=\"t\"><section name=\"s\">\n<type name=\"x\" class=\"restricted\" source=\"uint\">\n</section></amqp>",
        "<amqp name=\"t\">\n<section name=\"s\" name=\"again\"/></amqp>",
        "",
        "\u{FEFF}<?xml version=\"1.0\"?>",
        "<amqp name=\"t\"><!-- unterminated",
        "not xml at all",
    ])
    func notWellFormed(xml: String) throws {
        let e = try #require(error(xml))
        #expect(e.kind == .notWellFormed)
        #expect(e.file == "bad.xml")
        #expect(e.name == "bad.xml")
        #expect(!e.message.isEmpty)
    }

    @Test func notWellFormedReportsTheLine() throws {
        let e = try #require(error("<amqp name=\"t\">\n<section name=\"s\">\n<type name=\"x\" class=\"restricted\" source=\"uint\">\n</section>\n</amqp>"))
        #expect(e.kind == .notWellFormed)
        #expect(e.line == 4)
    }

    @Test(arguments: ["0x00000000:0x0000001", "0x0000000000000010", "0x00000000:0x0000001G", "16", "0x00000000:0x00000010:0x00000000"])
    func invalidDescriptorCode(code: String) throws {
        let e = try #require(error("<amqp name=\"t\"><section name=\"s\">\n<type name=\"x\" class=\"composite\" source=\"list\">\n<descriptor name=\"x:x:list\" code=\"\(code)\"/></type></section></amqp>"))
        #expect(e.kind == .invalidCode)
        #expect(e.line == 3)
        #expect(e.name == "x:x:list")
    }

    @Test func invalidClass() throws {
        let e = try #require(error("<amqp name=\"t\"><section name=\"s\"><type name=\"x\" class=\"struct\" source=\"list\"/></section></amqp>"))
        #expect(e.kind == .invalidAttribute)
        #expect(e.name == "x")
    }

    @Test func invalidFlag() throws {
        let e = try #require(error(#"<amqp name="t"><section name="s"><type name="x" class="composite" source="list"><descriptor name="x:x:list" code="0x00000000:0x00000001"/><field name="f" type="uint" mandatory="yes"/></type></section></amqp>"#))
        #expect(e.kind == .invalidAttribute)
        #expect(e.name == "mandatory")
    }

    @Test func unexpectedRoot() throws {
        let e = try #require(error("<spec name=\"t\"/>"))
        #expect(e.kind == .unexpectedRoot)
        #expect(e.name == "spec")
    }

    @Test func restrictionCycle() throws {
        let e = try #require(error("""
            <amqp name="t"><section name="s">
            <type name="a" class="restricted" source="b"/>
            <type name="b" class="restricted" source="a"/>
            </section></amqp>
            """))
        #expect(e.kind == .sourceCycle)
        #expect(e.name == "a")
        #expect(e.message.contains("a → b → a"))
    }

    @Test func invalidChoiceValue() throws {
        let e = try #require(error(#"<amqp name="t"><section name="s"><type name="mode" class="restricted" source="ubyte"><choice name="big" value="256"/></type></section></amqp>"#))
        #expect(e.kind == .invalidValue)
        #expect(e.name == "big")
    }

    @Test func invalidDefault() throws {
        let e = try #require(error("""
            <amqp name="t"><section name="s">
            <type name="mode" class="restricted" source="ubyte"><choice name="a" value="0"/></type>
            <type name="x" class="composite" source="list"><descriptor name="x:x:list" code="0x00000000:0x00000001"/>
            <field name="m" type="mode" default="b"/>
            </type></section></amqp>
            """))
        #expect(e.kind == .invalidValue)
        #expect(e.line == 4)
        #expect(e.name == "m")
    }

    @Test func compositeOverMap() throws {
        let e = try #require(error(#"<amqp name="t"><section name="s"><type name="x" class="composite" source="map"><descriptor name="x:x:map" code="0x00000000:0x00000001"/></type></section></amqp>"#))
        #expect(e.kind == .invalidSource)
    }
}
