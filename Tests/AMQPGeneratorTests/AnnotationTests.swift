import AMQPGenerator
import AMQPSpecModel
import Testing

/// Section numbers and units (`spec/annotations.tsv`) in the doc comments, and bad tables named by
/// file and line.
@Suite struct AnnotationTests {
    static let table = """
        # a comment, then a blank line

        section\tdemo\tframes\t9.4\t9.4.2
        unit\tping/window\tmessages
        unit\tmode\tgears
        """

    @Test func sectionNumbersAndUnitsReachTheDocComments() throws {
        let files = try generate(SnippetTests.compositeXML, fileName: "composite.xml", annotations: Self.table)
        let text = try #require(files["Demo.Frames.swift"])
        // `mode` is the first type of the section, `ping` the second.
        #expect(text.contains("/// - Specification: §9.4.2 of AMQP 1.0, in section `frames` of `demo` (`composite.xml`).\npublic enum Mode"))
        #expect(text.contains("/// - Specification: §9.4.3 of AMQP 1.0, in section `frames` of `demo` (`composite.xml`).\npublic struct Ping"))
        #expect(text.contains("/// - Unit: gears.\n/// - Specification: §9.4.2"))
        // A field's own unit, and the unit of its type.
        #expect(text.contains("    /// - Default: `10` (a null field means it, and the default is sent as null).\n    /// - Unit: messages.\n    public var window: UInt32"))
        #expect(text.contains("    /// - Unit: gears.\n    public var mode: Mode"))
        #expect(!text.contains("Unit: messages.\n    public var note"))
    }

    @Test func theCommittedTableNamesIdleTimeOutInMilliseconds() throws {
        let model = try SpecModel.load(try loadSpecFiles())
        let files = try AMQPSwiftGenerator.generate(model, options: try committedOptions(for: model))
        let text = try #require(files.first { $0.name == "Transport.Performatives.swift" }?.contents)
        #expect(text.contains("""
                /// `idle-time-out` (field 5 of `open`): `milliseconds`, a restricted `uint`.
                ///
                /// - Optional: `nil` is sent as null.
                /// - Unit: milliseconds.
                public var idleTimeout: Milliseconds?
            """))
        #expect(text.contains("/// - Specification: §2.7.1 of AMQP 1.0, in section `performatives` of `transport` (`transport.bare.xml`).\npublic struct Open"))
        #expect(text.contains("public var senderSettleMode: SenderSettleMode"))
        #expect(text.contains("public var receiverSettleMode: ReceiverSettleMode"))
        let definitions = try #require(files.first { $0.name == "Transport.Definitions.swift" }?.contents)
        // §2.8.15 is cited for amqp-error throughout the hand-written code.
        #expect(definitions.contains("/// - Specification: §2.8.15 of AMQP 1.0, in section `definitions` of `transport` (`transport.bare.xml`).\npublic enum AMQPErrorCondition"))
    }

    func error(_ table: String) -> SpecError? {
        do {
            let model = try SpecModel.load([("composite.xml", bytes(SnippetTests.compositeXML))])
            try SpecAnnotations.parse(bytes(table), fileName: "notes.tsv").validate(against: model)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("\nsection\tdemo\tframes\tnine", 2, "'nine' is not a section number like 2.7"),
        ("unit\tping/window", 1, "a unit line is: unit <type> or <type>/<field>, then the unit, tab-separated"),
        ("# ok\nunits\tping\tx", 2, "a line starts with 'section' or 'unit', not 'units'"),
        ("section\tdemo\tframes\t9.4\t8.1", 1, "'8.1' is not a number inside section 9.4"),
        ("unit\tmode\ta\nunit\tmode\tb", 2, "mode has two units"),
    ])
    func malformedLines(table: String, line: Int, message: String) throws {
        let e = try #require(error(table))
        #expect(e.file == "notes.tsv")
        #expect(e.line == line)
        #expect(e.message == message)
    }

    @Test(arguments: [
        ("section\tdemo\tframes\t1\nsection\tdemo\tpings\t2", 2, "demo/pings"),
        ("unit\tping/size\tbytes", 1, "ping/size"),
        ("\n\nunit\tpong\tbytes", 3, "pong"),
    ])
    func namesTheModelDoesNotDefine(table: String, line: Int, name: String) throws {
        let e = try #require(error(table))
        #expect(e.kind == .unknownType)
        #expect(e.file == "notes.tsv")
        #expect(e.line == line)
        #expect(e.name == name)
    }

    @Test func bytesThatAreNotUTF8() throws {
        #expect(throws: SpecError.self) { try SpecAnnotations.parse([0x75, 0xFF, 0x0A], fileName: "notes.tsv") }
    }
}
