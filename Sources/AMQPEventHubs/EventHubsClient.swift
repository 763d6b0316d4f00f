import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTransport
import AMQPTypes
import Foundation

/// A client of one event hub: the AMQP connection that its producers, receivers and
/// management calls share, opened on first use and reopened when it is lost.
///
/// ```swift
/// let client = try EventHubsClient(connectionString: "Endpoint=sb://…;EntityPath=telemetry")
/// let producer = client.makeProducer()
/// try await producer.send(EventData("hello"))
/// let receiver = client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)
/// for try await event in receiver { … }
/// try await client.close()
/// ```
///
/// For a connection of their own, give producers or receivers a client of their own.
public final class EventHubsClient: Sendable {
    /// This package's version, as sent in the connection's properties.
    public static let version = "0.1.0"

    /// The namespace and hub.
    public let endpoint: EventHubsEndpoint
    /// How it connects and retries.
    public let options: EventHubsClientOptions
    let scope: ConnectionScope

    /// A client for `endpoint` authorized by `credential`.
    public init(endpoint: EventHubsEndpoint, credential: EventHubsCredential, options: EventHubsClientOptions = .init()) {
        self.endpoint = endpoint
        self.options = options
        self.scope = ConnectionScope(endpoint: endpoint, credential: credential, options: options)
    }

    /// A client for a connection string (`Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=…`),
    /// with `eventHubName` when it has no `EntityPath`.
    public convenience init(connectionString: EventHubsConnectionString, eventHubName: String? = nil,
                            options: EventHubsClientOptions = .init()) throws(EventHubsError) {
        self.init(endpoint: try EventHubsEndpoint(connectionString, eventHubName: eventHubName),
                  credential: try EventHubsCredential(connectionString), options: options)
    }

    /// A client for a connection string given as text. Errors name the bad part of the
    /// string, never a key.
    public convenience init(connectionString: String, eventHubName: String? = nil, options: EventHubsClientOptions = .init()) throws(EventHubsError) {
        let parsed: EventHubsConnectionString
        do {
            parsed = try EventHubsConnectionString(connectionString)
        } catch {
            throw EventHubsError(.invalidArgument, detail: error.description)
        }
        try self.init(connectionString: parsed, eventHubName: eventHubName, options: options)
    }

    /// The event hub.
    public var eventHubName: String { endpoint.eventHubName }

    /// Connects (and authorizes the hub) now rather than on first use.
    public func open() async throws(EventHubsError) {
        var schedule = RetrySchedule(options.retry)
        try await schedule.run(on: scope.clock, { try await self.scope.authorize(self.endpoint.hubAudience) })
    }

    /// Closes the connection: producers and receivers made from this client end.
    public func close() async {
        await scope.close()
    }

    // MARK: Producers and consumers

    /// A producer on this client's connection.
    public func makeProducer(options producerOptions: EventHubProducerOptions = .init()) -> EventHubProducer {
        EventHubProducer(scope: scope, retry: options.retry, options: producerOptions)
    }

    /// A receiver of one partition, attached on first use (or by ``PartitionReceiver/open()``).
    public func makePartitionReceiver(
        partitionID: String, consumerGroup: String = EventHubsNames.defaultConsumerGroup,
        startingAt position: EventPosition = .latest, options: PartitionReceiverOptions = .init()
    ) -> PartitionReceiver {
        PartitionReceiver(scope: scope, partitionID: partitionID, consumerGroup: consumerGroup, startingAt: position,
                          options: options, retry: self.options.retry)
    }

    /// Events from every partition at once, merged as they arrive (each carries its
    /// ``ReceivedEventData/partitionID``; order holds within a partition, not across them).
    public func receiveFromAllPartitions(
        consumerGroup: String = EventHubsNames.defaultConsumerGroup, startingAt position: EventPosition = .latest,
        options: PartitionReceiverOptions = .init()
    ) async throws(EventHubsError) -> AllPartitionsReceiver {
        let ids = try await partitionIDs()
        let receivers = ids.map {
            makePartitionReceiver(partitionID: $0, consumerGroup: consumerGroup, startingAt: position, options: options)
        }
        return AllPartitionsReceiver(receivers: receivers, bufferSize: Int(max(options.prefetchCount, 1)))
    }

    // MARK: Management

    /// The hub's name, creation time and partition ids.
    public func eventHubProperties() async throws(EventHubsError) -> EventHubProperties {
        let map = try await read(type: EventHubsNames.eventHubEntityType, partition: nil)
        return try EventHubProperties(map)
    }

    /// The hub's partition ids.
    public func partitionIDs() async throws(EventHubsError) -> [String] {
        try await eventHubProperties().partitionIDs
    }

    /// A partition's sequence numbers, last offset and enqueued time.
    public func partitionProperties(partitionID: String) async throws(EventHubsError) -> PartitionProperties {
        let map = try await read(type: EventHubsNames.partitionEntityType, partition: partitionID)
        return try PartitionProperties(map)
    }

    /// A `READ` on `$management`, retried like everything else.
    private func read(type: String, partition: String?) async throws(EventHubsError) -> AMQPMap {
        let request = ManagementReadRequest(entityType: type, hub: eventHubName, partition: partition)
        let operation = partition.map { "reading partition \($0) of \(eventHubName)" } ?? "reading \(eventHubName)"
        var schedule = RetrySchedule(options.retry)
        return try await schedule.run(on: scope.clock, {
            let reply = try await self.scope.managementRequest(request)
            try ConnectionScope.checkStatus(reply, operation: operation)
            guard case .value(let section) = reply.body, case .map(let map) = section.value else {
                throw EventHubsError(.service, detail: "\(operation): the reply's body is not a map")
            }
            return map
        })
    }
}

/// An event hub, as `$management` describes it.
public struct EventHubProperties: Sendable, Hashable {
    /// The event hub's name.
    public var name: String
    /// When it was created.
    public var createdAt: Date
    /// Its partitions, `"0"` to `"n-1"` on Azure.
    public var partitionIDs: [String]

    init(_ map: AMQPMap) throws(EventHubsError) {
        let description: EventHubDescription
        do {
            description = try EventHubDescription(map)
        } catch {
            throw EventHubsError(.service, detail: error.description)
        }
        name = description.name
        createdAt = Date(millisecondsSince1970: description.createdAt.millisecondsSince1970)
        partitionIDs = description.partitionIDs
    }
}

/// A partition, as `$management` describes it.
public struct PartitionProperties: Sendable, Hashable {
    /// The event hub.
    public var eventHubName: String
    /// The partition.
    public var id: String
    /// The first sequence number still retained.
    public var beginningSequenceNumber: Int64
    /// The newest event's sequence number (`beginningSequenceNumber - 1` when empty).
    public var lastEnqueuedSequenceNumber: Int64
    /// The newest event's offset (`"-1"` when empty).
    public var lastEnqueuedOffset: String
    /// When the newest event was stored.
    public var lastEnqueuedTime: Date
    /// Whether the partition holds no events.
    public var isEmpty: Bool

    init(_ map: AMQPMap) throws(EventHubsError) {
        let description: PartitionDescription
        do {
            description = try PartitionDescription(map)
        } catch {
            throw EventHubsError(.service, detail: error.description)
        }
        eventHubName = description.hub
        id = description.partition
        beginningSequenceNumber = description.beginSequenceNumber
        lastEnqueuedSequenceNumber = description.lastEnqueuedSequenceNumber
        lastEnqueuedOffset = description.lastEnqueuedOffset
        lastEnqueuedTime = Date(millisecondsSince1970: description.lastEnqueuedTime.millisecondsSince1970)
        isEmpty = description.isEmpty
    }
}

extension Date {
    /// The date `milliseconds` after 1970, as AMQP timestamps count.
    init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: TimeInterval(milliseconds) / 1000)
    }
}
