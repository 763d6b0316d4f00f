import AMQPCodec
import AMQPMessage
import AMQPTypes

/// Values the codec benchmarks, Proton's codec-bench and the Embedded Swift round trip share:
/// one definition, so the message benchmarked is the message the embedded program's fixture file
/// holds (a test checks that file against ``eventHubsMessage``).
public enum CodecFixtures {
    public static let epochMilliseconds: Int64 = 1_700_000_000_000

    /// 1 KiB of `i & 0xFF`: the body of the Event Hubs message.
    public static let kibibyte: [UInt8] = (0..<1024).map { UInt8(truncatingIfNeeded: $0) }
    /// 1 MiB of `i & 0xFF`.
    public static let mebibyte: [UInt8] = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0) }

    /// A message as Azure Event Hubs hands it to a consumer: durable header, the four `x-opt-…`
    /// annotations, properties, five application properties and a 1 KiB data section.
    public static let eventHubsMessage = Message(
        header: Header(durable: true),
        messageAnnotations: MessageAnnotations([
            .symbol("x-opt-partition-key"): .string("device-0042"),
            .symbol("x-opt-sequence-number"): .long(123_456_789),
            .symbol("x-opt-offset"): .string("98765432100"),
            .symbol("x-opt-enqueued-time"): .timestamp(Timestamp(millisecondsSince1970: epochMilliseconds)),
        ]),
        properties: Properties(
            messageID: .uuid(AMQPUUID(high: 0x1b4e_28ba_2fa1_11d2, low: 0x883f_0016_d3cc_a427)),
            contentType: "application/octet-stream",
            creationTime: Timestamp(millisecondsSince1970: epochMilliseconds),
            groupID: "group-7"
        ),
        applicationProperties: ApplicationProperties([
            .string("tenant"): .string("contoso"),
            .string("attempt"): .long(3),
            .string("urgent"): .boolean(true),
            .string("score"): .double(0.75),
            .string("observed-at"): .timestamp(Timestamp(millisecondsSince1970: epochMilliseconds + 123)),
        ]),
        body: .data([DataSection(Binary(kibibyte))])
    )

}
