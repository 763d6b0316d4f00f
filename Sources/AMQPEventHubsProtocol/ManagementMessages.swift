import AMQPCodec
import AMQPMessage
import AMQPTypes

// The request and reply messages of the `$cbs` and `$management` nodes, as a client writes them
// and an endpoint reads them (and the other way round for replies).

/// Reads a request's application property `key`, given as a string or, as some clients send
/// keys and values, as a symbol.
package func applicationProperty(_ message: Message, _ key: String) -> String? {
    let map = message.applicationProperties?.value
    switch map?[.string(key)] ?? Symbol(key).flatMap({ map?[.symbol($0)] }) {
    case .string(let s)?: return s
    case .symbol(let s)?: return s.stringValue
    default: return nil
    }
}

/// Why a `$cbs` or `$management` request cannot be served; an endpoint answers with status 400.
package struct ManagementRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, for the reply's `status-description`.
    package var description: String

    /// An error saying `description`.
    package init(description: String) { self.description = description }
}

/// A `put-token` request to `$cbs`: application properties `operation`, `type`, `name` (the
/// audience) and `expiration`, the token as an `amqp-value` string body. The message id is a
/// UUID; the reply is routed by link, so there is no reply-to.
package struct CBSPutTokenRequest: Sendable, Hashable {
    /// The token itself.
    package var token: String
    /// `servicebus.windows.net:sastoken` or `jwt`.
    package var tokenType: String
    /// The audience the token is for.
    package var audience: String
    /// When the token expires, if the client says.
    package var expiration: Timestamp?

    /// A request with these parts.
    package init(token: String, tokenType: String, audience: String, expiration: Timestamp?) {
        self.token = token
        self.tokenType = tokenType
        self.audience = audience
        self.expiration = expiration
    }

    /// Reads a request as an endpoint receives it. A missing `type` means a SAS token, as the
    /// first SDKs sent it.
    package init(_ message: Message) throws(ManagementRequestError) {
        let operation = applicationProperty(message, EventHubsNames.operation)
        guard operation == EventHubsNames.putToken else {
            throw ManagementRequestError(description: "unsupported operation \(operation ?? "(none)")")
        }
        guard let audience = applicationProperty(message, EventHubsNames.name),
              case .value(let section) = message.body, case .string(let token) = section.value else {
            throw ManagementRequestError(description: "put-token needs a name and a string token")
        }
        self.token = token
        self.audience = audience
        self.tokenType = applicationProperty(message, EventHubsNames.type) ?? EventHubsNames.sasTokenType
        if case .timestamp(let t)? = message.applicationProperties?.value[.string(EventHubsNames.expiration)] {
            expiration = t
        } else {
            expiration = nil
        }
    }

    /// The request message, with a fresh UUID message id.
    package var message: Message {
        var properties: AMQPMap = [
            .string(EventHubsNames.operation): .string(EventHubsNames.putToken),
            .string(EventHubsNames.type): .string(tokenType),
            .string(EventHubsNames.name): .string(audience),
        ]
        if let expiration { properties[.string(EventHubsNames.expiration)] = .timestamp(expiration) }
        return Message(properties: Properties(messageID: .uuid(AMQPUUID.random())),
                       applicationProperties: ApplicationProperties(properties),
                       body: .value(AMQPValueSection(.string(token))))
    }
}

/// A `READ` request to `$management`: `operation = READ`, `type` (hub or partition), `name` (the
/// hub), `partition` for partition requests and `security_token`. It has no body at all, as
/// Microsoft's SDKs send it.
package struct ManagementReadRequest: Sendable, Hashable {
    /// `com.microsoft:eventhub` or `com.microsoft:partition`.
    package var entityType: String?
    /// The event hub.
    package var hub: String
    /// The partition, for partition requests.
    package var partition: String?
    /// The token authorizing the request.
    package var securityToken: String?

    /// A request with these parts.
    package init(entityType: String, hub: String, partition: String? = nil, securityToken: String? = nil) {
        self.entityType = entityType
        self.hub = hub
        self.partition = partition
        self.securityToken = securityToken
    }

    /// Reads a request as an endpoint receives it.
    package init(_ message: Message) throws(ManagementRequestError) {
        guard applicationProperty(message, EventHubsNames.operation) == EventHubsNames.readOperation,
              let hub = applicationProperty(message, EventHubsNames.name) else {
            throw ManagementRequestError(description: "expected operation READ with a name")
        }
        self.hub = hub
        entityType = applicationProperty(message, EventHubsNames.type)
        partition = applicationProperty(message, EventHubsNames.partition)
        securityToken = applicationProperty(message, EventHubsNames.securityToken)
    }

    /// The request message.
    package var message: Message {
        var properties: AMQPMap = [
            .string(EventHubsNames.operation): .string(EventHubsNames.readOperation),
            .string(EventHubsNames.name): .string(hub),
        ]
        if let entityType { properties[.string(EventHubsNames.type)] = .string(entityType) }
        if let partition { properties[.string(EventHubsNames.partition)] = .string(partition) }
        if let securityToken { properties[.string(EventHubsNames.securityToken)] = .string(securityToken) }
        return Message(applicationProperties: ApplicationProperties(properties), body: .data([]))
    }
}

/// The status of a `$cbs` or `$management` reply: application properties `status-code` (an
/// HTTP-like int; 200–299 is success, Azure answers put-token with 202) and
/// `status-description`.
package struct ManagementStatus: Sendable, Hashable {
    /// The status code.
    package var code: Int
    /// The status in words.
    package var description: String

    /// A status with this code and text.
    package init(code: Int, description: String) {
        self.code = code
        self.description = description
    }

    /// Whether the request succeeded.
    package var isSuccess: Bool { (200...299).contains(code) }

    /// The status of a reply; `nil` when it has no integer `status-code`.
    package init?(reply: Message) {
        let properties = reply.applicationProperties?.value
        switch properties?[.string(EventHubsNames.statusCode)] {
        case .int(let v)?: code = Int(v)
        case .long(let v)?: guard let v = Int(exactly: v) else { return nil }; code = v
        case .uint(let v)?: code = Int(v)
        default: return nil
        }
        if case .string(let s)? = properties?[.string(EventHubsNames.statusDescription)] { description = s } else { description = "" }
    }

    /// The reply to `request` with this status and `body` (an `amqp-value`; `null` when
    /// there is none): its correlation id is the request's message id, with the same AMQP type.
    package func reply(to request: Message, body: AMQPValue? = nil) -> Message {
        Message(
            properties: Properties(correlationID: request.properties?.messageID),
            applicationProperties: ApplicationProperties([
                .string(EventHubsNames.statusCode): .int(Int32(clamping: code)),
                .string(EventHubsNames.statusDescription): .string(description),
            ]),
            body: .value(AMQPValueSection(body ?? .null)))
    }
}

/// A management reply body that lacks a field or has it of the wrong type.
package struct ManagementReplyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The key that is missing or invalid.
    package var key: String

    /// An error about `key`.
    package init(key: String) { self.key = key }
    /// `the management reply has no valid <key>`.
    package var description: String { "the management reply has no valid \(key)" }
}

/// What `READ` of type `com.microsoft:eventhub` answers: the body map `name`, `type`,
/// `created_at` (timestamp), `partition_count` (int), `partition_ids` (array of strings).
package struct EventHubDescription: Sendable, Hashable {
    /// The hub's name.
    package var name: String
    /// When it was created.
    package var createdAt: Timestamp
    /// Its partition ids.
    package var partitionIDs: [String]

    /// A description with these parts.
    package init(name: String, createdAt: Timestamp, partitionIDs: [String]) {
        self.name = name
        self.createdAt = createdAt
        self.partitionIDs = partitionIDs
    }

    /// Reads a reply body; partition ids as an array or a list of strings.
    package init(_ map: AMQPMap) throws(ManagementReplyError) {
        guard case .string(let name)? = map[.string(EventHubsNames.name)] else { throw ManagementReplyError(key: EventHubsNames.name) }
        guard case .timestamp(let created)? = map[.string(EventHubsNames.createdAt)] else {
            throw ManagementReplyError(key: EventHubsNames.createdAt)
        }
        switch map[.string(EventHubsNames.partitionIDs)] {
        case .array(let array)?:
            partitionIDs = array.elements.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        case .list(let list)?:
            partitionIDs = list.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        default:
            throw ManagementReplyError(key: EventHubsNames.partitionIDs)
        }
        self.name = name
        self.createdAt = created
    }

    /// The reply body.
    package var map: AMQPMap {
        let ids = partitionIDs.map { AMQPValue.string($0) }
        return [
            .string(EventHubsNames.name): .string(name),
            .string(EventHubsNames.type): .string(EventHubsNames.eventHubEntityType),
            .string(EventHubsNames.createdAt): .timestamp(createdAt),
            .string(EventHubsNames.partitionCount): .int(Int32(clamping: partitionIDs.count)),
            // Every element is a string, so the array is well-formed.
            .string(EventHubsNames.partitionIDs): .array(try! AMQPArray(elementType: .string, elements: ids)),
        ]
    }
}

/// What `READ` of type `com.microsoft:partition` answers: `name`, `type`, `partition`,
/// `begin_sequence_number` and `last_enqueued_sequence_number` (longs), `last_enqueued_offset`
/// (a **string**), `last_enqueued_time_utc` (timestamp), `is_partition_empty`, and the two
/// geo-replication epochs the Rust SDK requires.
package struct PartitionDescription: Sendable, Hashable {
    /// The event hub.
    package var hub: String
    /// The partition id.
    package var partition: String
    /// The first sequence number still retained.
    package var beginSequenceNumber: Int64
    /// The newest event's sequence number.
    package var lastEnqueuedSequenceNumber: Int64
    /// The newest event's offset.
    package var lastEnqueuedOffset: String
    /// When the newest event was stored.
    package var lastEnqueuedTime: Timestamp
    /// Whether the partition holds no events.
    package var isEmpty: Bool

    /// A description with these parts.
    package init(hub: String, partition: String, beginSequenceNumber: Int64, lastEnqueuedSequenceNumber: Int64,
                 lastEnqueuedOffset: String, lastEnqueuedTime: Timestamp, isEmpty: Bool) {
        self.hub = hub
        self.partition = partition
        self.beginSequenceNumber = beginSequenceNumber
        self.lastEnqueuedSequenceNumber = lastEnqueuedSequenceNumber
        self.lastEnqueuedOffset = lastEnqueuedOffset
        self.lastEnqueuedTime = lastEnqueuedTime
        self.isEmpty = isEmpty
    }

    /// Reads a reply body; integers of any width, an offset given as a number.
    package init(_ map: AMQPMap) throws(ManagementReplyError) {
        func string(_ key: String) throws(ManagementReplyError) -> String {
            guard case .string(let s)? = map[.string(key)] else { throw ManagementReplyError(key: key) }
            return s
        }
        func long(_ key: String) throws(ManagementReplyError) -> Int64 {
            guard let n = longValue(map[.string(key)]) else { throw ManagementReplyError(key: key) }
            return n
        }
        hub = try string(EventHubsNames.name)
        partition = try string(EventHubsNames.partition)
        beginSequenceNumber = try long(EventHubsNames.beginSequenceNumber)
        lastEnqueuedSequenceNumber = try long(EventHubsNames.lastEnqueuedSequenceNumberKey)
        if case .string(let s)? = map[.string(EventHubsNames.lastEnqueuedOffsetKey)] {
            lastEnqueuedOffset = s
        } else {
            lastEnqueuedOffset = String(try long(EventHubsNames.lastEnqueuedOffsetKey))
        }
        guard case .timestamp(let t)? = map[.string(EventHubsNames.lastEnqueuedTimeUTCKey)] else {
            throw ManagementReplyError(key: EventHubsNames.lastEnqueuedTimeUTCKey)
        }
        lastEnqueuedTime = t
        guard case .boolean(let empty)? = map[.string(EventHubsNames.isPartitionEmpty)] else {
            throw ManagementReplyError(key: EventHubsNames.isPartitionEmpty)
        }
        isEmpty = empty
    }

    /// The reply body. Without geo-replication both epochs are 0.
    package var map: AMQPMap {
        [
            .string(EventHubsNames.name): .string(hub),
            .string(EventHubsNames.type): .string(EventHubsNames.partitionEntityType),
            .string(EventHubsNames.partition): .string(partition),
            .string(EventHubsNames.beginSequenceNumber): .long(beginSequenceNumber),
            .string(EventHubsNames.lastEnqueuedSequenceNumberKey): .long(lastEnqueuedSequenceNumber),
            .string(EventHubsNames.lastEnqueuedOffsetKey): .string(lastEnqueuedOffset),
            .string(EventHubsNames.lastEnqueuedTimeUTCKey): .timestamp(lastEnqueuedTime),
            .string(EventHubsNames.isPartitionEmpty): .boolean(isEmpty),
            .string(EventHubsNames.beginSequenceNumberEpoch): .long(0),
            .string(EventHubsNames.lastEnqueuedSequenceNumberEpoch): .long(0),
        ]
    }
}

/// An integer of any AMQP width, or a decimal string, as a long: how Event Hubs' numbers are
/// read wherever a peer may choose the width (sequence numbers, offsets, reply fields).
package func longValue(_ value: AMQPValue?) -> Int64? {
    switch value {
    case .long(let v)?: return v
    case .int(let v)?: return Int64(v)
    case .ulong(let v)?: return Int64(exactly: v)
    case .uint(let v)?: return Int64(v)
    case .string(let s)?: return Int64(s)
    default: return nil
    }
}
