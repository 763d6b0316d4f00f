import AMQPCodec
import AMQPTypes

/// Idempotent publishing, as the .NET and JavaScript SDKs speak it (`AmqpConnectionScope.cs` /
/// `AmqpMessageConverter.cs` in azure-sdk-for-net, `eventHubSender.ts` in azure-sdk-for-js): a
/// partition producer asks for the `com.microsoft:idempotent-producer` capability, and the link's
/// attach properties carry its producer id (long), owner level or epoch (short) and the sequence
/// number it last published (int). The service answers with the state it assigned or kept. Every
/// event then carries the same three names as message annotations, its own sequence number being
/// the previous one plus one, so the service can drop a resent event it has already stored.
///
/// One type for both ends: the client writes attach properties and event annotations with it, the
/// emulator reads them with it.
public struct IdempotentProducerState: Sendable, Hashable {
    /// The producer group id the service assigned (or the client asked for).
    public var producerID: Int64?
    /// The owner level: a producer with a higher one on the same id takes over.
    public var epoch: Int16?
    /// The sequence number of the last event published with this id and epoch.
    public var lastSequenceNumber: Int32?

    public init(producerID: Int64? = nil, epoch: Int16? = nil, lastSequenceNumber: Int32? = nil) {
        self.producerID = producerID
        self.epoch = epoch
        self.lastSequenceNumber = lastSequenceNumber
    }

    /// Whether any of the three is known; with none, a client sends no properties and the service
    /// assigns a new producer id.
    public var isEmpty: Bool { producerID == nil && epoch == nil && lastSequenceNumber == nil }

    /// Reads the three from attach properties; a value of another type counts as absent.
    public init(properties: Fields?) {
        if case .long(let id)? = properties?[symbol: EventHubsNames.producerID] { producerID = id }
        if case .short(let epoch)? = properties?[symbol: EventHubsNames.producerEpoch] { self.epoch = epoch }
        if case .int(let sequence)? = properties?[symbol: EventHubsNames.producerSequenceNumber] { lastSequenceNumber = sequence }
    }

    /// The attach properties: all three or none, `null` for those the service should choose (the
    /// service requires the whole set once any is given).
    public var properties: Fields? {
        guard !isEmpty else { return nil }
        return [
            .symbol(EventHubsNames.producerID): producerID.map { .long($0) } ?? .null,
            .symbol(EventHubsNames.producerEpoch): epoch.map { .short($0) } ?? .null,
            .symbol(EventHubsNames.producerSequenceNumber): lastSequenceNumber.map { .int($0) } ?? .null,
        ]
    }

    /// The sequence number after `sequence`: it wraps from `Int32.max` to 0, as the SDKs do.
    public static func next(after sequence: Int32) -> Int32 {
        sequence == .max ? 0 : sequence + 1
    }

    /// Adds the producer id, epoch and `sequenceNumber` to an event's message annotations.
    public func annotate(_ annotations: inout AMQPMap, sequenceNumber: Int32) {
        if let producerID { annotations[symbol: EventHubsNames.producerID] = .long(producerID) }
        if let epoch { annotations[symbol: EventHubsNames.producerEpoch] = .short(epoch) }
        annotations[symbol: EventHubsNames.producerSequenceNumber] = .int(sequenceNumber)
    }

    /// The producer id, epoch and sequence number an event's annotations carry.
    public static func published(in annotations: AMQPMap?) -> (producerID: Int64?, epoch: Int16?, sequenceNumber: Int32?) {
        var result: (Int64?, Int16?, Int32?) = (nil, nil, nil)
        if case .long(let id)? = annotations?[symbol: EventHubsNames.producerID] { result.0 = id }
        if case .short(let epoch)? = annotations?[symbol: EventHubsNames.producerEpoch] { result.1 = epoch }
        if case .int(let sequence)? = annotations?[symbol: EventHubsNames.producerSequenceNumber] { result.2 = sequence }
        return result
    }
}
