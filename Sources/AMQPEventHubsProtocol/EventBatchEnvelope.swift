import AMQPCodec
import AMQPMessage
import AMQPTypes

/// The batch format: many events in one AMQP message of format `0x80013700`.
///
/// The envelope carries, optionally, message annotations with the partition key for every event
/// in it, then **one `data` section per event**, each holding that event's complete encoded
/// message. A delivery of any other format is a single event.
package enum EventBatchEnvelope {
    /// The message format of a batch envelope.
    package static var messageFormat: UInt32 { EventHubsNames.batchMessageFormat }

    /// The envelope's sections before its `data` sections: the partition key annotation.
    package static func header(partitionKey: String?) -> [UInt8] {
        guard let partitionKey else { return [] }
        var encoder = AMQPEncoder(policy: .full)
        MessageAnnotations([.symbol(EventHubsNames.partitionKey): .string(partitionKey)]).encode(to: &encoder)
        return encoder.bytes
    }

    /// The bytes a `data` section holding `count` bytes takes: descriptor `00 53 75`, then
    /// `vbin8` (2 bytes of header) or `vbin32` (5).
    package static func dataSectionSize(_ count: Int) -> Int {
        3 + (count <= 0xFF ? 2 : 5) + count
    }

    /// The envelope for `events` (each a complete encoded message).
    package static func encode(_ events: [[UInt8]], partitionKey: String?) -> [UInt8] {
        var bytes = header(partitionKey: partitionKey)
        bytes.reserveCapacity(bytes.count + events.reduce(0) { $0 + dataSectionSize($1.count) })
        var encoder = AMQPEncoder(policy: .full)
        for event in events {
            DataSection(Binary(event)).encode(to: &encoder)
        }
        bytes += encoder.bytes
        return bytes
    }

    /// One event taken out of a delivery.
    package struct Event: Sendable, Hashable {
        /// The event's complete encoded message.
        package var message: [UInt8]
        /// The envelope's partition key, else the event's own.
        package var partitionKey: String?
    }

    /// The events a delivery of `messageFormat` carries, and the envelope's partition key. Each
    /// event must decode as a message; a batch whose body is not `data` sections is an error.
    package static func events(in payload: ArraySlice<UInt8>, messageFormat: UInt32) throws(AMQPDecodingError) -> (events: [Event], partitionKey: String?) {
        var decoder = AMQPDecoder(payload)
        let message = try Message(from: &decoder)
        let envelopeKey = partitionKey(of: message)
        guard messageFormat == Self.messageFormat else {
            return ([Event(message: Array(payload), partitionKey: envelopeKey)], envelopeKey)
        }
        guard case .data(let sections) = message.body else {
            throw AMQPDecodingError(.unexpectedType, at: 0, "a batch envelope carries its events in data sections")
        }
        var events: [Event] = []
        events.reserveCapacity(sections.count)
        for section in sections {
            let bytes = Array(section.value.bytes)
            let event = try Message(decoding: bytes)
            events.append(Event(message: bytes, partitionKey: envelopeKey ?? partitionKey(of: event)))
        }
        return (events, envelopeKey)
    }

    /// The `x-opt-partition-key` annotation of a message.
    package static func partitionKey(of message: Message) -> String? {
        if case .string(let key)? = message.messageAnnotations?.value[symbol: EventHubsNames.partitionKey] { return key }
        return nil
    }
}
