import AMQPCodec
import AMQPSpecModel
import AMQPTestSupport
import AMQPTypes
import AMQPTypedJSON
import Foundation
import Testing

@testable import AMQPCommandLine

@Suite("amqp inspect")
struct InspectTests {
    func lines(_ bytes: [UInt8], json: Bool = false) throws -> [String] {
        var inspector = FrameInspector(json: json)
        var out: [String] = []
        try inspector.inspect(bytes) { out.append($0) }
        return out
    }

    /// A disposition whose state is a vendor's outcome, as `Examples/VendorTypes` defines it.
    static let vendorXML = #"""
        <amqp name="vendor"><section name="outcomes">
          <type name="deferred" class="composite" source="list" provides="delivery-state, outcome">
            <descriptor name="example.com:deferred:list" code="0x0000F00D:0x00000002"/>
            <field name="retry-after" type="milliseconds" mandatory="true"/>
            <field name="reason" type="error"/>
          </type>
        </section></amqp>
        """#

    static func dispositionWithVendorOutcome() -> [UInt8] {
        let state = DeliveryState.unknown(descriptor: .code(0x0000F00D_00000002), value: .list([.uint(30_000)]))
        let body = AMQPEncoder.encode(Disposition(role: .receiver, first: 7, settled: true, state: state))
        let size = UInt32(8 + body.count)
        let header: [UInt8] = [UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF), 2, 0, 0, 1]
        return Array("AMQP".utf8) + [0, 1, 0, 0] + header + body
    }

    @Test("--types names a vendor's described types in captures; without it they print by descriptor")
    func vendorTypes() throws {
        let bytes = Self.dispositionWithVendorOutcome()
        let plain = try lines(bytes)
        #expect(plain.last == "@1 disposition(role=true, first=7, settled=true, state=\(0x0000F00D_00000002)([30000]))")
        var inspector = FrameInspector(json: false, names: try DescribedTypeNames(specFiles: [("vendor.xml", Array(Self.vendorXML.utf8))]))
        var named: [String] = []
        try inspector.inspect(bytes) { named.append($0) }
        #expect(named.last == "@1 disposition(role=true, first=7, settled=true, state=deferred(retry-after=30000))")
    }

    @Test("--types refuses a file that does not parse, or that names a core descriptor, naming file and line")
    func badTypeFiles() throws {
        #expect(throws: SpecError.self) { try DescribedTypeNames(specFiles: [("vendor.xml", Array("<amqp".utf8))]) }
        let clash = #"<amqp name="v"><section name="s">"# + "\n"
            + #"<type name="mine" class="composite" source="list"><descriptor name="x:mine:list" code="0x00000000:0x00000024"/></type></section></amqp>"#
        do {
            _ = try DescribedTypeNames(specFiles: [("vendor.xml", Array(clash.utf8))])
            Issue.record("a core descriptor was accepted")
        } catch {
            #expect(error.file == "vendor.xml")
            #expect(error.line == 2)
            #expect(error.message.contains("'accepted'"))
        }
    }

    @Test("prints the whole RabbitMQ capture, both directions, with spec names and message sections")
    func rabbitCapture() throws {
        let c2s = try lines(try TestPaths.bytes(TestPaths.corpus("captures/rabbitmq310.c2s.bin")))
        #expect(c2s.first == "SASL 3-1.0.0")
        #expect(c2s[1].hasPrefix("@0 sasl-init(mechanism=:PLAIN"))
        #expect(c2s[2] == "AMQP 0-1.0.0")
        #expect(c2s.contains { $0.hasPrefix("@0 open(container-id=") })
        #expect(c2s.filter { $0.hasPrefix("@0 transfer(") && $0.contains("amqp-value(\"msg-") }.count == 3)
        #expect(c2s.contains { $0.hasPrefix("@0 disposition(role=true, first=0, last=2, settled=true, state=accepted())") })
        let s2c = try lines(try TestPaths.bytes(TestPaths.corpus("captures/rabbitmq310.s2c.bin")))
        #expect(s2c[1].hasPrefix("@0 sasl-mechanisms(sasl-server-mechanisms=@symbol[:ANONYMOUS, :AMQPLAIN, :PLAIN])"))
        #expect(s2c[2] == "@0 sasl-outcome(code=0)")
        #expect(s2c.filter { $0.contains("transfer(") }.count == 3)
        #expect(s2c.last?.hasPrefix("@0 flow(") == true)
    }

    @Test("--json: one object per header or frame, values in typed JSON")
    func json() throws {
        let out = try lines(try TestPaths.bytes(TestPaths.corpus("captures/rabbitmq310.c2s.bin")), json: true)
        let objects = try out.map { try JSON.parse($0) }
        #expect(objects[0]["header"] == .string("SASL 3-1.0.0"))
        #expect(objects[1]["performative"] == .string("sasl-init"))
        let open = try #require(objects.first { $0["performative"] == .string("open") })
        #expect(open["fields"]?["container-id"] == .object([("t", .string("string")), ("v", .string("60996b9e-7c52-4869-8c38-8830c1171860"))]))
        let transfer = try #require(objects.first { $0["performative"] == .string("transfer") })
        guard case .array(let sections)? = transfer["sections"] else {
            Issue.record("no sections")
            return
        }
        #expect(sections.compactMap { $0["section"] } == [.string("header"), .string("properties"), .string("application-properties"), .string("amqp-value")])
    }

    @Test("multi-frame deliveries print their sections once complete")
    func multiFrame() throws {
        var encoder = AMQPEncoder()
        let message = AMQPEncoder.encode(AMQPValue.described(descriptor: .ulong(0x77), value: .string(String(repeating: "x", count: 40))))
        let first = AMQPValue.described(descriptor: .ulong(0x14), value: .list([.uint(0), .uint(0), .binary([1]), .uint(0), .boolean(false), .boolean(true)]))
        let last = AMQPValue.described(descriptor: .ulong(0x14), value: .list([.uint(0)]))
        encoder.writeBytes([0x41, 0x4D, 0x51, 0x50, 0, 1, 0, 0] as [UInt8])
        for (performative, part) in [(first, message[..<20]), (last, message[20...])] {
            let start = encoder.bytes.count
            encoder.writeBytes([0, 0, 0, 0, 2, 0, 0, 0] as [UInt8])
            encoder.encode(performative)
            encoder.writeBytes(part)
            let size = encoder.bytes.count - start
            encoder.bytes[start + 3] = UInt8(size)
        }
        let out = try lines(encoder.bytes)
        #expect(out[1].hasSuffix("(payload: 20 bytes, more to come)"))
        #expect(out[2].hasSuffix("amqp-value(\"\(String(repeating: "x", count: 40))\")"))
    }

    @Test("bytes that end mid-frame are an error, not a crash")
    func truncated() {
        #expect(throws: (any Error).self) { try lines([0x41, 0x4D, 0x51, 0x50, 0, 1, 0, 0, 0, 0, 0, 20, 2, 0]) }
        #expect(throws: (any Error).self) { try lines(Array("HTTP/1.1".utf8)) }
    }
}
