import AMQPCodec
import AMQPMessage
import AMQPTypes
import AMQPEventHubsProtocol

/// Where a producer sends: a partition chosen by the service, a partition by id, or the
/// partition a key hashes to (events with one key stay together and in order).
public struct SendEventOptions: Sendable, Hashable {
    /// Send to this partition.
    public var partitionID: String?
    /// Send with this key: the service picks the partition by it.
    public var partitionKey: String?

    /// Give at most one of the two; with neither, the service picks the partition.
    public init(partitionID: String? = nil, partitionKey: String? = nil) {
        self.partitionID = partitionID
        self.partitionKey = partitionKey
    }

    /// A partition by id.
    public static func partition(_ id: String) -> SendEventOptions { SendEventOptions(partitionID: id) }
    /// The partition `key` hashes to.
    public static func partitionKey(_ key: String) -> SendEventOptions { SendEventOptions(partitionKey: key) }

    func validate() throws(EventHubsError) {
        if partitionID != nil && partitionKey != nil {
            throw EventHubsError(.invalidArgument, detail: "give a partition id or a partition key, not both")
        }
        if let partitionID, partitionID.isEmpty || partitionID.contains("/") {
            throw EventHubsError(.invalidArgument, detail: "partition id \"\(partitionID)\" is not valid")
        }
    }

    /// The link target: `HUB` or `HUB/Partitions/ID`.
    func target(hub: String) -> String {
        (partitionID.map { EventHubsEntityAddress.partition(hub: hub, id: $0) } ?? .hub(hub)).description
    }
}

/// Events sent together in one AMQP message (format `0x80013700`): an envelope whose `data`
/// sections each hold one complete encoded event, no larger than the producer link's
/// `max-message-size`. Fill it with ``tryAdd(_:)`` until it says no, send it, start another.
///
/// ```swift
/// var batch = try await producer.makeBatch()
/// for event in events {
///     if !batch.tryAdd(event) {
///         try await producer.send(batch)
///         batch = try await producer.makeBatch()
///         guard batch.tryAdd(event) else { throw TooLarge() }  // alone it does not fit
///     }
/// }
/// try await producer.send(batch)
/// ```
public struct EventDataBatch: Sendable {
    /// The largest the envelope may grow, in bytes.
    public let maximumSizeInBytes: Int
    /// Where the batch goes.
    public let options: SendEventOptions
    /// The envelope's encoded size with the events added so far.
    public private(set) var sizeInBytes: Int
    /// The encoded events, in the order added.
    private(set) var events: [[UInt8]] = []
    /// The events themselves, kept by idempotent producers, which number them when they send.
    private(set) var sources: [EventData] = []
    /// Whether the events are numbered at send time (idempotent publishing).
    let idempotent: Bool
    /// The encoder every added event is written through.
    private var scratch = AMQPEncoder(policy: .full)
    /// Writes the trace context into each added event.
    let telemetry: EventHubsTelemetry?

    /// How many events the batch holds.
    public var count: Int { events.count }

    init(maximumSizeInBytes: Int, options: SendEventOptions, idempotent: Bool = false, telemetry: EventHubsTelemetry? = nil) {
        self.maximumSizeInBytes = maximumSizeInBytes
        self.options = options
        self.idempotent = idempotent
        self.telemetry = telemetry
        self.sizeInBytes = EventBatchEnvelope.header(partitionKey: options.partitionKey).count
    }

    /// Adds `event` if the batch stays within ``maximumSizeInBytes``; returns false (and adds
    /// nothing) otherwise. False on an empty batch means the event can never be sent.
    public mutating func tryAdd(_ event: EventData) -> Bool {
        var event = event
        telemetry?.inject(into: &event)
        var sized = event
        if idempotent {
            // Sized with the widest producer annotations, so the numbered event still fits.
            var annotations = sized.message.messageAnnotations?.value ?? AMQPMap()
            IdempotentProducerState(producerID: .min, epoch: .min).annotate(&annotations, sequenceNumber: .min)
            sized.message.messageAnnotations = MessageAnnotations(annotations)
        }
        let encoded = sized.encoded(partitionKey: options.partitionKey, using: &scratch)
        let size = sizeInBytes + EventBatchEnvelope.dataSectionSize(encoded.count)
        guard size <= maximumSizeInBytes else { return false }
        events.append(encoded)
        if idempotent { sources.append(event) }
        sizeInBytes = size
        return true
    }

    /// The envelope to send.
    var envelope: [UInt8] {
        EventBatchEnvelope.encode(events, partitionKey: options.partitionKey)
    }
}
