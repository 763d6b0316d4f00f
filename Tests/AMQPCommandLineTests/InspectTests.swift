import AMQPCodec
import AMQPTestSupport
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
