import AMQPGenerator
import AMQPSpecModel
import Foundation
import Testing

/// A user's spec files generated against AMQPTypes through its committed index: they may use the
/// core's types, and only their own are generated (issue 20).
@Suite struct AgainstModuleTests {
    static let vendorXML = #"""
<amqp name="vendor">
  <section name="reports">
    <type name="priority" class="restricted" source="ubyte">
      <choice name="low" value="0"/>
      <choice name="high" value="9"/>
    </type>
    <type name="link-report" class="composite" source="list">
      <descriptor name="example.com:link-report:list" code="0x0000F00D:0x00000001"/>
      <field name="error" type="error"/>
      <field name="properties" type="fields"/>
      <field name="role" type="role" mandatory="true"/>
      <field name="priority" type="priority" default="high"/>
      <field name="state" type="*" requires="delivery-state"/>
      <field name="timeout" type="milliseconds"/>
    </type>
    <type name="deferred" class="composite" source="list" provides="delivery-state, outcome">
      <descriptor name="example.com:deferred:list" code="0x0000F00D:0x00000002"/>
      <field name="until" type="timestamp"/>
    </type>
    <definition name="REPORTS-PER-LINK" value="4"/>
  </section>
</amqp>
"""#

    /// The committed index, as the build-tool plugin passes it.
    static func index() throws -> (fileName: String, bytes: [UInt8]) {
        let url = packageRoot.appendingPathComponent("Generated/AMQPTypes.index.xml")
        return ("AMQPTypes.index.xml", [UInt8](try Data(contentsOf: url)))
    }

    static func generateAgainstCore(_ xml: String) throws -> [String: String] {
        let model = try SpecModel.load([try index(), ("vendor.xml", bytes(xml))])
        let files = try AMQPSwiftGenerator.generate(model, options: GeneratorOptions(layout: .filePerDocument, moduleName: "VendorTypes"))
        return Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.contents) })
    }

    @Test func theCommittedIndexIsWhatTheGeneratorWrites() throws {
        let model = try SpecModel.load(try loadSpecFiles())
        let index = AMQPSwiftGenerator.index(of: model, module: "AMQPTypes")
        #expect(index.name == "AMQPTypes.index.xml")
        let committed = String(decoding: try Data(contentsOf: packageRoot.appendingPathComponent("Generated/AMQPTypes.index.xml")), as: UTF8.self)
        #expect(committed == index.contents, "run the generate-amqp-types command plugin")
        // It is a spec file: it loads on its own, every type marked as another module's.
        let reloaded = try SpecModel.load([try Self.index()])
        #expect(reloaded.documents.map(\.swiftModule) == ["AMQPTypes"])
        #expect(reloaded.types.count == model.types.filter { $0.typeClass != .primitive }.count)
        #expect(reloaded.types.allSatisfy { reloaded.isImported($0) })
    }

    @Test func onlyTheUsersTypesAreGeneratedUsingTheCoreOnes() throws {
        let files = try Self.generateAgainstCore(Self.vendorXML)
        #expect(Set(files.keys) == ["vendor.swift", "Archetypes.swift"])
        let vendor = try #require(files["vendor.swift"])
        #expect(vendor.contains("import AMQPCodec\nimport AMQPTypes\n"))
        #expect(vendor.contains("public var error: AMQPError?"))
        #expect(vendor.contains("public var properties: Fields?"))
        #expect(vendor.contains("public var role: Role\n"))
        #expect(vendor.contains("public var priority: Priority\n"))
        #expect(vendor.contains("public var state: DeliveryState?"))
        #expect(vendor.contains("public var timeout: Milliseconds?"))
        #expect(vendor.contains("extension AMQPDefinitions {"))
        // No core type is declared again.
        for name in ["Open", "AMQPError", "Role", "Accepted", "Fields", "Milliseconds"] {
            #expect(!files.values.joined().contains(" \(name): Sendable") && !files.values.joined().contains("typealias \(name) "), "\(name)")
        }
        // The core's archetype enums stay the core's; the registry lists only the user's types,
        // under a name that does not hide AMQPTypes' own.
        let shared = try #require(files["Archetypes.swift"])
        #expect(!shared.contains("public enum DeliveryState"))
        #expect(!shared.contains("public enum Outcome"))
        #expect(!shared.contains("public enum AMQPDefinitions"))
        #expect(shared.contains("public enum VendorTypesDescribedTypes {"))
        #expect(shared.contains("[LinkReport.self, Deferred.self]"))
        // A user's outcome converts into the core's enums, and back.
        #expect(shared.contains("extension DeliveryState {\n"))
        #expect(shared.contains("extension Outcome {\n"))
        #expect(shared.contains("    public init(_ value: Deferred) {\n        let parts = value.describedParts\n"))
        #expect(shared.contains("    public func deferred() throws(AMQPDecodingError) -> Deferred? {"))
        // Links only to symbols of the generated module: DocC cannot resolve AMQPTypes' here.
        #expect(vendor.contains("- Provides: `delivery-state` (`DeliveryState`), `outcome` (`Outcome`)."))
        #expect(!files.values.joined().contains("``DeliveryState``"))
    }

    func error(_ xml: String) -> SpecError? {
        do {
            _ = try SpecModel.load([try Self.index(), ("vendor.xml", bytes(xml))])
            return nil
        } catch let error as SpecError {
            return error
        } catch {
            Issue.record("\(error)")
            return nil
        }
    }

    static func composite(_ body: String, provides: String = "", code: String = "0x0000F00D:0x00000001", name: String = "example.com:thing:list") -> String {
        """
        <amqp name="vendor">
          <section name="s">
            <type name="thing" class="composite" source="list"\(provides.isEmpty ? "" : " provides=\"\(provides)\"")>
              <descriptor name="\(name)" code="\(code)"/>
              \(body)
            </type>
          </section>
        </amqp>
        """
    }

    @Test func unknownTypeNamesTheUsersFileAndLine() throws {
        let e = try #require(error(Self.composite(#"<field name="reason" type="eror"/>"#)))
        #expect(e.kind == .unknownType)
        #expect(e.file == "vendor.xml")
        #expect(e.line == 5)
        #expect(e.name == "eror")
    }

    @Test func duplicateOfACoreDescriptor() throws {
        let byCode = try #require(error(Self.composite("", code: "0x00000000:0x00000024")))
        #expect(byCode.kind == .duplicateDescriptor)
        #expect(byCode.file == "vendor.xml")
        #expect(byCode.line == 4)
        #expect(byCode.message.contains("'accepted'"))
        let bySymbol = try #require(error(Self.composite("", name: "amqp:accepted:list")))
        #expect(bySymbol.kind == .duplicateDescriptor)
        #expect(bySymbol.file == "vendor.xml")
    }

    @Test func duplicateOfItsOwnDescriptor() throws {
        let e = try #require(error("""
            <amqp name="vendor"><section name="s">
            <type name="a" class="composite" source="list"><descriptor name="example.com:a:list" code="0x0000F00D:0x00000001"/></type>
            <type name="b" class="composite" source="list"><descriptor name="example.com:b:list" code="0x0000F00D:0x00000001"/></type>
            </section></amqp>
            """))
        #expect(e.kind == .duplicateDescriptor)
        #expect(e.file == "vendor.xml")
        #expect(e.line == 3)
    }

    @Test func providesOfAnUnknownArchetype() throws {
        let e = try #require(error(Self.composite("", provides: "outcom")))
        #expect(e.kind == .unknownArchetype)
        #expect(e.file == "vendor.xml")
        #expect(e.line == 3)
        #expect(e.name == "outcom")
        // An archetype of the user's own is known once some field requires it.
        #expect(error(Self.composite(#"<field name="next" type="*" requires="step"/>"#, provides: "step")) == nil)
    }

    @Test(arguments: [
        ("<field name=\"p\" type=\"sender-settle-mode\" default=\"sometimes\"/>", "sometimes"),
        ("<field name=\"p\" type=\"milliseconds\" default=\"-1\"/>", "-1"),
        ("<field name=\"p\" type=\"handle\" default=\"4294967296\"/>", "4294967296"),
    ])
    func invalidDefaultOfARestrictedType(field: String, value: String) throws {
        let e = try #require(error(Self.composite(field)))
        #expect(e.kind == .invalidValue)
        #expect(e.file == "vendor.xml")
        #expect(e.line == 5)
        #expect(e.message.contains("\"\(value)\""))
    }

    @Test func aUsersTypeNamedLikeACoreTypeIsRefused() throws {
        let xml = #"<amqp name="vendor"><section name="s"><type name="open" class="composite" source="list"><descriptor name="example.com:open:list" code="0x0000F00D:0x00000009"/></type></section></amqp>"#
        #expect(throws: SpecError.self) { try SpecModel.load([try Self.index(), ("vendor.xml", bytes(xml))]) }
    }
}
