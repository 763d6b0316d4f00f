import AMQPCodec

/// The names Event Hubs gives things on the wire (see EVENTHUBS.md): one place for each.
public enum EventHubsNames {
    // Message annotations set by the service on every event.
    public static let sequenceNumber: Symbol = "x-opt-sequence-number"
    public static let offset: Symbol = "x-opt-offset"
    public static let enqueuedTime: Symbol = "x-opt-enqueued-time"
    public static let partitionKey: Symbol = "x-opt-partition-key"

    // Delivery annotations with runtime metrics.
    public static let lastEnqueuedSequenceNumber: Symbol = "last_enqueued_sequence_number"
    public static let lastEnqueuedOffset: Symbol = "last_enqueued_offset"
    public static let lastEnqueuedTimeUTC: Symbol = "last_enqueued_time_utc"
    public static let runtimeInfoRetrievalTimeUTC: Symbol = "runtime_info_retrieval_time_utc"

    // Link properties and capabilities.
    public static let epoch: Symbol = "com.microsoft:epoch"
    public static let timeout: Symbol = "com.microsoft:timeout"
    public static let receiverRuntimeMetric: Symbol = "com.microsoft:enable-receiver-runtime-metric"
    public static let georeplication: Symbol = "com.microsoft:georeplication"

    /// The selector filter key and descriptor (Apache filter registry, 0x0000468C:0x00000004).
    public static let selectorFilter: Symbol = "apache.org:selector-filter:string"
    public static let selectorFilterCode: UInt64 = 0x0000_468C_0000_0004

    /// The message format of a batch envelope: one data section per event.
    public static let batchMessageFormat: UInt32 = 0x8001_3700

    // Nodes and request properties.
    public static let cbsNode = "$cbs"
    public static let managementNode = "$management"
    public static let operation = "operation"
    public static let putToken = "put-token"
    public static let readOperation = "READ"
    public static let type = "type"
    public static let name = "name"
    public static let expiration = "expiration"
    public static let partition = "partition"
    public static let securityToken = "security_token"
    public static let statusCode = "status-code"
    public static let statusDescription = "status-description"
    public static let sasTokenType = "servicebus.windows.net:sastoken"
    public static let jwtTokenType = "jwt"
    public static let eventHubEntityType = "com.microsoft:eventhub"
    public static let partitionEntityType = "com.microsoft:partition"

    // Management reply keys.
    public static let createdAt = "created_at"
    public static let partitionCount = "partition_count"
    public static let partitionIDs = "partition_ids"
    public static let beginSequenceNumber = "begin_sequence_number"
    public static let lastEnqueuedSequenceNumberKey = "last_enqueued_sequence_number"
    public static let lastEnqueuedOffsetKey = "last_enqueued_offset"
    public static let lastEnqueuedTimeUTCKey = "last_enqueued_time_utc"
    public static let isPartitionEmpty = "is_partition_empty"
    public static let beginSequenceNumberEpoch = "begin_sequence_number_epoch"
    public static let lastEnqueuedSequenceNumberEpoch = "last_enqueued_sequence_number_epoch"

    /// The consumer group every hub has.
    public static let defaultConsumerGroup = "$Default"
}
