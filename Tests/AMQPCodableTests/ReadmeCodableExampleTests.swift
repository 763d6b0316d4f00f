import AMQPCodable
import AMQPCodec
import Foundation
import Testing

@Test("the README's Codable example runs as shown")
func readmeCodableExample() throws {
    // snippet: codable-bridge
    struct Reading: Codable { var sensor: String; var count: Int32; var total: UInt64; var at: Date; var note: String? }
    let reading = Reading(sensor: "t-1", count: 3, total: 1_000, at: Date(), note: nil)

    let value = try AMQPValueEncoder().encode(reading)          // map: "sensor" → string, "count" → int, …
    let bytes = try AMQPValueEncoder().encodedBytes(reading)    // its AMQP encoding
    let back = try AMQPValueDecoder().decode(Reading.self, from: value)

    struct Order: AMQPDescribedCodable {                         // a described composite, like Open or Source
        static var amqpDescriptor: DescriptorValue { .symbol("com.example:order:list") }
        var number: UInt32
        var lines: [String]
    }
    let compact = AMQPValueEncoder(options: .init(structure: .list))   // list in declaration order
    // snippet end
    guard case .map(let map) = value else {
        Issue.record("not a map: \(value)")
        return
    }
    #expect(map[.string("count")] == .int(3))
    #expect(map[.string("total")] == .ulong(1_000))
    #expect(map[.string("note")] == nil)
    #expect(back.sensor == "t-1" && back.count == 3)
    var decoder = AMQPDecoder(bytes)
    #expect(try decoder.decodeValue() == value)
    let order = try compact.encode(Order(number: 7, lines: ["a"]))
    #expect(order == .described(descriptor: .symbol("com.example:order:list"), value: .list([.uint(7), .list([.string("a")])])))
}
