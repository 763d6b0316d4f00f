import AMQPCodec

/// The names Event Hubs gives things on the wire: one place for each, shared by the client and
/// the emulator.
public enum EventHubsNames {
    // Message annotations set by the service on every event.
    /// Message annotation: the event's position in its partition (long).
    public static let sequenceNumber: Symbol = "x-opt-sequence-number"
    /// Message annotation: the event's offset in its partition (string).
    public static let offset: Symbol = "x-opt-offset"
    /// Message annotation: when the service stored the event (timestamp).
    public static let enqueuedTime: Symbol = "x-opt-enqueued-time"
    /// Message annotation: the key the event was published with (string).
    public static let partitionKey: Symbol = "x-opt-partition-key"

    // Delivery annotations with runtime metrics.
    /// Runtime-metric delivery annotation: the partition's newest sequence number.
    public static let lastEnqueuedSequenceNumber: Symbol = "last_enqueued_sequence_number"
    /// Runtime-metric delivery annotation: the partition's newest offset.
    public static let lastEnqueuedOffset: Symbol = "last_enqueued_offset"
    /// Runtime-metric delivery annotation: when the partition's newest event was stored.
    public static let lastEnqueuedTimeUTC: Symbol = "last_enqueued_time_utc"
    /// Runtime-metric delivery annotation: when the service read these figures.
    public static let runtimeInfoRetrievalTimeUTC: Symbol = "runtime_info_retrieval_time_utc"

    // Link properties and capabilities.
    /// Receiver link property: the owner level (long); a higher one displaces lower ones.
    public static let epoch: Symbol = "com.microsoft:epoch"
    /// Link property: the operation timeout (long) Microsoft's clients send.
    public static let timeout: Symbol = "com.microsoft:timeout"
    /// Desired capability: runtime metrics with every delivery.
    public static let receiverRuntimeMetric: Symbol = "com.microsoft:enable-receiver-runtime-metric"
    /// Capability of geo-replicated namespaces (offsets then carry a replication segment).
    public static let georeplication: Symbol = "com.microsoft:georeplication"

    // Idempotent publishing (see IdempotentProducerState).
    /// Desired capability of a producer link that publishes idempotently.
    public static let idempotentProducer: Symbol = "com.microsoft:idempotent-producer"
    /// Attach property and event annotation: the producer group id (long).
    public static let producerID: Symbol = "com.microsoft:producer-id"
    /// Attach property and event annotation: the producer's owner level (short).
    public static let producerEpoch: Symbol = "com.microsoft:producer-epoch"
    /// Attach property (the last published) and event annotation (the event's): a sequence number (int).
    public static let producerSequenceNumber: Symbol = "com.microsoft:producer-sequence-number"
    /// Error condition: an idempotent event's sequence number is not the next one.
    public static let outOfOrderSequence: Symbol = "com.microsoft:out-of-order-sequence"
    /// Error condition: a producer with a higher epoch took the producer id over.
    public static let producerEpochStolen: Symbol = "com.microsoft:producer-epoch-stolen"

    /// The selector filter key and descriptor (Apache filter registry, 0x0000468C:0x00000004).
    public static let selectorFilter: Symbol = "apache.org:selector-filter:string"
    /// The numeric descriptor of the selector filter (domain 0x0000468C, id 4).
    public static let selectorFilterCode: UInt64 = 0x0000_468C_0000_0004

    /// The message format of a batch envelope: one data section per event.
    public static let batchMessageFormat: UInt32 = 0x8001_3700

    // Nodes and request properties.
    /// The claims-based security node, where tokens are put.
    public static let cbsNode = "$cbs"
    /// The management node, answering READ requests for hubs and partitions.
    public static let managementNode = "$management"
    /// Application property naming a request's operation.
    public static let operation = "operation"
    /// The `$cbs` operation that puts a token.
    public static let putToken = "put-token"
    /// The `$management` operation that reads an entity.
    public static let readOperation = "READ"
    /// Application property: the token type (`$cbs`) or entity type (`$management`).
    public static let type = "type"
    /// Application property: the audience (`$cbs`) or entity name (`$management`).
    public static let name = "name"
    /// Application property of a put-token: when the token expires.
    public static let expiration = "expiration"
    /// Application property of a partition READ: the partition id.
    public static let partition = "partition"
    /// Application property of a management request: the token authorizing it.
    public static let securityToken = "security_token"
    /// Application property of a reply: the HTTP-like status (200, 401, 404, …).
    public static let statusCode = "status-code"
    /// Application property of a reply: the status in words.
    public static let statusDescription = "status-description"
    /// The token type of a Shared Access Signature.
    public static let sasTokenType = "servicebus.windows.net:sastoken"
    /// The token type of a JSON Web Token (Microsoft Entra ID).
    public static let jwtTokenType = "jwt"
    /// The entity type that READ returns hub properties for.
    public static let eventHubEntityType = "com.microsoft:eventhub"
    /// The entity type that READ returns partition properties for.
    public static let partitionEntityType = "com.microsoft:partition"

    // Management reply keys.
    /// Hub reply key: creation time (timestamp).
    public static let createdAt = "created_at"
    /// Hub reply key: number of partitions (int).
    public static let partitionCount = "partition_count"
    /// Hub reply key: the partition ids (array of strings).
    public static let partitionIDs = "partition_ids"
    /// Partition reply key: the first retained sequence number (long).
    public static let beginSequenceNumber = "begin_sequence_number"
    /// Partition reply key: the newest sequence number (long).
    public static let lastEnqueuedSequenceNumberKey = "last_enqueued_sequence_number"
    /// Partition reply key: the newest offset (string).
    public static let lastEnqueuedOffsetKey = "last_enqueued_offset"
    /// Partition reply key: when the newest event was stored (timestamp).
    public static let lastEnqueuedTimeUTCKey = "last_enqueued_time_utc"
    /// Partition reply key: whether the partition holds no events (boolean).
    public static let isPartitionEmpty = "is_partition_empty"
    /// Partition reply key (geo-replication): the epoch of the first retained event.
    public static let beginSequenceNumberEpoch = "begin_sequence_number_epoch"
    /// Partition reply key (geo-replication): the epoch of the newest event.
    public static let lastEnqueuedSequenceNumberEpoch = "last_enqueued_sequence_number_epoch"

    /// The consumer group every hub has.
    public static let defaultConsumerGroup = "$Default"
}
