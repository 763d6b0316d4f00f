import AMQPCodec
import AMQPTypes
import Foundation
import Testing
import VendorTypes

/// Qpid Proton's decoder (Debian's python3-qpid-proton, through swift-amqp's
/// scripts/proton-oracle.py) reads the vendor's types as described values with the vendor's
/// descriptors, and what Proton encodes from what it read decodes back to the same Swift value.
/// Proton missing fails the test.
enum Proton {
    static let oracle = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/proton-oracle.py")

    static func run(_ mode: String, _ line: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [oracle.path, mode]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OracleFailure(message: "proton-oracle.py \(mode) exited \(process.terminationStatus): \(String(decoding: err, as: UTF8.self))")
        }
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            result.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return result
    }

    /// Proton's typed JSON of `bytes`, and Proton's encoding of that.
    static func roundTrip(_ bytes: [UInt8]) throws -> (json: [String: Any], bytes: [UInt8]) {
        let json = try run("decode", hex(bytes))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        return (object, Self.bytes(try run("encode", json)))
    }
}

struct OracleFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

@Test(arguments: policies)
func protonReadsTheVendorsCompositeWithItsDescriptor(policy: EncodingPolicy) throws {
    let report = LinkReport(
        linkName: "orders", role: .receiver, severity: .critical,
        error: AMQPError(condition: .amqp(.resourceLimitExceeded), description: "queue full"),
        properties: [.symbol("region"): .string("eu")], lastState: .accepted(Accepted()), quietFor: 5_000)
    let (json, protonBytes) = try Proton.roundTrip(AMQPEncoder.encode(report, policy: policy))
    #expect(json["t"] as? String == "described")
    let descriptor = try #require(json["d"] as? [String: Any])
    #expect(descriptor["t"] as? String == "ulong")
    #expect((descriptor["v"] as? NSNumber)?.uint64Value == 0x0000F00D_00000001)
    let body = try #require(json["v"] as? [String: Any])
    #expect(body["t"] as? String == "list")
    #expect(try AMQPDecoder.decode(LinkReport.self, from: protonBytes) == report)
}

@Test(arguments: policies)
func protonReadsTheCustomOutcomeInADisposition(policy: EncodingPolicy) throws {
    let deferred = Deferred(retryAfter: 30_000, reason: AMQPError(condition: .amqp(.resourceLocked)))
    let disposition = Disposition(role: .receiver, first: 3, settled: true, state: DeliveryState(deferred))
    let (json, protonBytes) = try Proton.roundTrip(AMQPEncoder.encode(disposition, policy: policy))
    #expect(json["t"] as? String == "described")
    let read = try AMQPDecoder.decode(Disposition.self, from: protonBytes)
    #expect(read == disposition)
    #expect(try read.state?.deferred() == deferred)
}
