import AMQPCodec
import AMQPEventHubs
import AMQPMessage
import AMQPProtocol
import AMQPTransport
import AMQPTypes
import Foundation
import NIOCore

/// An entity address as clients give it: `HUB`, `HUB/Partitions/ID`,
/// `HUB/ConsumerGroups/CG/Partitions/ID`, `$cbs` or `$management`, optionally as a full
/// `amqps://host/…` URI (the Python SDK sends those even in development mode).
enum EntityAddress: Hashable {
    case cbs
    case management
    case hub(String)
    case partition(hub: String, id: Int)
    case consumer(hub: String, group: String, partition: Int)

    init?(_ raw: String) {
        var path = Substring(raw)
        if let scheme = path.range(of: "://") {
            path = path[scheme.upperBound...]
            guard let slash = path.firstIndex(of: "/") else { return nil }
            path = path[path.index(after: slash)...]
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch parts.count {
        case 1:
            switch parts[0].lowercased() {
            case "$cbs": self = .cbs
            case "$management": self = .management
            default: self = .hub(parts[0])
            }
        case 3 where parts[1].lowercased() == "partitions":
            guard let id = Int(parts[2]) else { return nil }
            self = .partition(hub: parts[0], id: id)
        case 5 where parts[1].lowercased() == "consumergroups" && parts[3].lowercased() == "partitions":
            guard let id = Int(parts[4]) else { return nil }
            self = .consumer(hub: parts[0], group: parts[2], partition: id)
        default:
            return nil
        }
    }

    /// The path that CBS audiences are compared with (lower case, no host).
    var authorizationPath: String {
        switch self {
        case .cbs: return "$cbs"
        case .management: return "$management"
        case .hub(let h): return h.lowercased()
        case .partition(let h, let id): return "\(h.lowercased())/partitions/\(id)"
        case .consumer(let h, let g, let p): return "\(h.lowercased())/consumergroups/\(g.lowercased())/partitions/\(p)"
        }
    }
}

/// The path of a CBS audience or token resource: `sb://host[:port]/hub/…` → `hub/…`, lower case.
/// The host is ignored: the emulator cannot know which name clients use for it.
func audiencePath(_ audience: String) -> String {
    var path = Substring(audience)
    if let scheme = path.range(of: "://") {
        path = path[scheme.upperBound...]
        path = path.firstIndex(of: "/").map { path[path.index(after: $0)...] } ?? ""
    }
    return path.trimmingCharacters(in: CharacterSet(charactersIn: "/")).lowercased()
}

/// One client connection to the emulator, on its event loop.
final class EmulatorConnection: AMQPServerConnectionDelegate {
    let store: EventHubsStore
    let clock: @Sendable () -> Int64
    /// Set when SASL PLAIN checked a SAS key name and key: everything is allowed.
    var authorizedForEverything = false
    /// Audience path → expiry (ms since 1970) granted by CBS tokens.
    var grants: [String: Int64] = [:]

    enum Role {
        case cbsRequests
        case managementRequests
        case replies(node: EntityAddress, address: String?)
        case producer(hub: String, partition: Int?)
        case consumer(Consumer)
    }

    final class Consumer {
        let log: PartitionLog
        let hub: String
        let group: String
        var next: Int64
        let runtimeMetrics: Bool
        var listener: UInt64?
        var admission: UInt64?

        init(log: PartitionLog, hub: String, group: String, next: Int64, runtimeMetrics: Bool) {
            self.log = log
            self.hub = hub
            self.group = group
            self.next = next
            self.runtimeMetrics = runtimeMetrics
        }
    }

    var links: [LinkID: Role] = [:]

    init(store: EventHubsStore, clock: @escaping @Sendable () -> Int64) {
        self.store = store
        self.clock = clock
    }

    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
        switch event {
        case .authenticated(_, let mechanism):
            // PLAIN here means a SAS key name and key were checked (the seed's path).
            if mechanism == "PLAIN" { authorizedForEverything = true }
        case .linkAttachRequested(_, let link, let attach):
            attachRequested(link, attach, connection)
        case .delivery(let link, let delivery):
            switch links[link] {
            case .cbsRequests?: handleCBS(delivery, on: link, connection)
            case .managementRequests?: handleManagement(delivery, on: link, connection)
            case .producer(let hub, let partition)?: publish(delivery, on: link, hub: hub, partition: partition, connection)
            default: break
            }
        case .creditGranted(let link, _, _):
            if case .consumer(let consumer)? = links[link] { pump(link, consumer, connection) }
        case .linkDetached(let link, _, _, _):
            removeLink(link)
        default:
            break
        }
    }

    func connectionClosed(_ connection: AMQPServerConnection) {
        for link in Array(links.keys) { removeLink(link) }
    }

    func removeLink(_ link: LinkID) {
        guard let role = links.removeValue(forKey: link) else { return }
        if case .consumer(let consumer) = role {
            if let listener = consumer.listener { consumer.log.removeListener(listener) }
            if let admission = consumer.admission {
                store.removeReceiver(hub: consumer.hub, group: consumer.group, partition: consumer.log.id, id: admission)
            }
        }
    }

    // MARK: Authorization

    func isAuthorized(_ path: String) -> Bool {
        if authorizedForEverything { return true }
        let now = clock()
        return grants.contains { granted, expiry in
            expiry > now && (granted.isEmpty || path == granted || path.hasPrefix(granted + "/"))
        }
    }

    enum TokenCheck {
        /// Valid until this time (ms since 1970).
        case valid(until: Int64)
        case invalid(String)
    }

    /// Checks a token for `audience`.
    func verify(token: String, type: String, audience: String) -> TokenCheck {
        if type == EventHubsNames.jwtTokenType {
            return store.configuration.acceptsJWT ? .valid(until: Int64.max) : .invalid("jwt tokens are not accepted by this emulator")
        }
        guard type == EventHubsNames.sasTokenType else { return .invalid("unknown token type \(type)") }
        guard let sas = SharedAccessSignature(parsing: token) else { return .invalid("not a SharedAccessSignature token") }
        guard let key = store.configuration.keys[sas.keyName] else { return .invalid("unknown key name \(sas.keyName)") }
        guard sas.isSigned(withKey: key) else { return .invalid("signature does not match the key \(sas.keyName)") }
        guard sas.expiry * 1000 > clock() else { return .invalid("token expired") }
        let granted = audiencePath(sas.audience)
        let wanted = audiencePath(audience)
        guard granted.isEmpty || wanted == granted || wanted.hasPrefix(granted + "/") else {
            return .invalid("token for \(sas.audience) does not cover \(audience)")
        }
        return .valid(until: sas.expiry * 1000)
    }

    // MARK: Attach

    func attachRequested(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection) {
        // The client's role: a sender attaches with a target, a receiver with a source.
        let clientSends = attach.role == .sender
        let rawAddress: String?
        if clientSends {
            if case .target(let t)? = attach.target, case .string(let a)? = t.address { rawAddress = a } else { rawAddress = nil }
        } else {
            if case .source(let s)? = attach.source, case .string(let a)? = s.address { rawAddress = a } else { rawAddress = nil }
        }
        guard let rawAddress, let address = EntityAddress(rawAddress) else {
            refuse(link, attach, connection, .amqp(.notFound), "no entity at \(rawAddress ?? "an empty address")")
            return
        }
        switch (address, clientSends) {
        case (.cbs, true), (.management, true):
            links[link] = address == .cbs ? .cbsRequests : .managementRequests
            accept(link, attach, connection, credit: 100)
        case (.cbs, false), (.management, false):
            var replyAddress: String? = nil
            if case .target(let t)? = attach.target, case .string(let a)? = t.address { replyAddress = a }
            links[link] = .replies(node: address, address: replyAddress)
            accept(link, attach, connection, credit: nil, presettled: true)
        case (.hub(let hub), true), (.partition(let hub, _), true):
            guard let config = store.hub(hub) else {
                refuse(link, attach, connection, .amqp(.notFound), "event hub \(hub) does not exist")
                return
            }
            var partition: Int? = nil
            if case .partition(_, let id) = address {
                guard id < config.partitionCount else {
                    refuse(link, attach, connection, .amqp(.notFound), "event hub \(hub) has no partition \(id)")
                    return
                }
                partition = id
            }
            guard isAuthorized(address.authorizationPath) else {
                refuse(link, attach, connection, .amqp(.unauthorizedAccess), "no valid token for \(hub): put one on $cbs first")
                return
            }
            links[link] = .producer(hub: config.name, partition: partition)
            accept(link, attach, connection, credit: 1000)
        case (.consumer(let hub, let group, let partition), false):
            attachConsumer(link, attach, connection, hub: hub, group: group, partition: partition, address: address)
        default:
            refuse(link, attach, connection, .amqp(.notAllowed), "\(rawAddress) cannot be \(clientSends ? "sent to" : "received from")")
        }
    }

    /// Refuses with both termini echoed, as Azure does: the Python SDK cannot read a refusal
    /// without them and would retry instead of reporting the error.
    func refuse(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection, _ condition: ErrorCondition, _ description: String) {
        refuse(link, attach, connection, AMQPError(condition: condition, description: description))
    }

    func refuse(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection, _ error: AMQPError) {
        connection.withEngine {
            $0.refuseLink(link, error: error, source: attach.source ?? .source(Source()), target: attach.target ?? .target(Target()))
        }
    }

    func accept(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection, credit: UInt32?, presettled: Bool = false,
                offeredCapabilities: [Symbol] = [], properties: Fields? = nil) {
        let maxMessageSize = store.configuration.maxMessageSize
        connection.withEngine { engine in
            // Both termini in the reply: the Python SDK expects them (EVENTHUBS.md).
            try? engine.acceptLink(
                link, source: attach.source ?? .source(Source()), target: attach.target ?? .target(Target()),
                maxMessageSize: maxMessageSize,
                // Oversized events are rejected with message-size-exceeded, not cut off by a detach.
                enforcedMaxMessageSize: maxMessageSize * 4 + 65536,
                senderSettleMode: presettled ? .settled : nil,
                properties: properties, offeredCapabilities: offeredCapabilities)
            if let credit { try? engine.setCredit(credit, on: link) }
        }
    }

    // MARK: CBS

    func handleCBS(_ delivery: IncomingDelivery, on link: LinkID, _ connection: AMQPServerConnection) {
        settle(delivery, on: link, connection, .accepted(Accepted()))
        guard let request = try? decode(delivery) else { return }
        let properties = request.applicationProperties?.value
        let operation = stringProperty(properties, EventHubsNames.operation)
        let type = stringProperty(properties, EventHubsNames.type) ?? EventHubsNames.sasTokenType
        let name = stringProperty(properties, EventHubsNames.name)
        var status: Int32 = 202
        var text = "Accepted"
        if operation != EventHubsNames.putToken {
            (status, text) = (400, "unsupported operation \(operation ?? "(none)")")
        } else if let name, case .value(let section) = request.body, case .string(let token) = section.value {
            switch verify(token: token, type: type, audience: name) {
            case .valid(let expiry):
                var until = expiry
                if let expiration = properties?[.string(EventHubsNames.expiration)], case .timestamp(let t) = expiration {
                    until = min(until, t.millisecondsSince1970)
                }
                grants[audiencePath(name)] = until
            case .invalid(let reason):
                (status, text) = (401, "Unauthorized: \(reason)")
            }
        } else {
            (status, text) = (400, "put-token needs a name and a string token")
        }
        reply(to: request, node: .cbs, connection, status: status, description: text, body: nil)
    }

    // MARK: Management

    func handleManagement(_ delivery: IncomingDelivery, on link: LinkID, _ connection: AMQPServerConnection) {
        settle(delivery, on: link, connection, .accepted(Accepted()))
        guard let request = try? decode(delivery) else { return }
        let properties = request.applicationProperties?.value
        let operation = stringProperty(properties, EventHubsNames.operation)
        let type = stringProperty(properties, EventHubsNames.type)
        guard operation == EventHubsNames.readOperation, let hubName = stringProperty(properties, EventHubsNames.name) else {
            reply(to: request, node: .management, connection, status: 400, description: "expected operation READ with a name", body: nil)
            return
        }
        guard let hub = store.hub(hubName) else {
            reply(to: request, node: .management, connection, status: 404, description: "event hub \(hubName) does not exist", body: nil)
            return
        }
        var allowed = isAuthorized(hub.name.lowercased())
        if !allowed, let token = stringProperty(properties, EventHubsNames.securityToken),
           case .valid = verify(token: token, type: EventHubsNames.sasTokenType, audience: hub.name) {
            allowed = true
        }
        guard allowed else {
            reply(to: request, node: .management, connection, status: 401, description: "Unauthorized: no valid token for \(hub.name)", body: nil)
            return
        }
        switch type {
        case EventHubsNames.eventHubEntityType?:
            let ids = (0..<hub.partitionCount).map { AMQPValue.string(String($0)) }
            let body: AMQPMap = [
                .string(EventHubsNames.name): .string(hub.name),
                .string(EventHubsNames.type): .string(EventHubsNames.eventHubEntityType),
                .string(EventHubsNames.createdAt): .timestamp(Timestamp(millisecondsSince1970: store.createdAt)),
                .string(EventHubsNames.partitionCount): .int(Int32(hub.partitionCount)),
                .string(EventHubsNames.partitionIDs): .array(try! AMQPArray(elementType: .string, elements: ids)),
            ]
            reply(to: request, node: .management, connection, status: 200, description: "OK", body: .map(body))
        case EventHubsNames.partitionEntityType?:
            guard let text = stringProperty(properties, EventHubsNames.partition), let id = Int(text),
                  let log = store.partition(hub: hub.name, id: id) else {
                reply(to: request, node: .management, connection, status: 404, description: "no such partition", body: nil)
                return
            }
            let p = log.properties
            let body: AMQPMap = [
                .string(EventHubsNames.name): .string(hub.name),
                .string(EventHubsNames.type): .string(EventHubsNames.partitionEntityType),
                .string(EventHubsNames.partition): .string(String(id)),
                .string(EventHubsNames.beginSequenceNumber): .long(p.beginSequenceNumber),
                .string(EventHubsNames.lastEnqueuedSequenceNumberKey): .long(p.lastEnqueuedSequenceNumber),
                .string(EventHubsNames.lastEnqueuedOffsetKey): .string(p.lastEnqueuedOffset),
                .string(EventHubsNames.lastEnqueuedTimeUTCKey): .timestamp(Timestamp(millisecondsSince1970: p.lastEnqueuedTime)),
                .string(EventHubsNames.isPartitionEmpty): .boolean(p.isEmpty),
                .string(EventHubsNames.beginSequenceNumberEpoch): .long(0),
                .string(EventHubsNames.lastEnqueuedSequenceNumberEpoch): .long(0),
            ]
            reply(to: request, node: .management, connection, status: 200, description: "OK", body: .map(body))
        default:
            reply(to: request, node: .management, connection, status: 400, description: "unknown type \(type ?? "(none)")", body: nil)
        }
    }

    /// Sends a reply on the link attached from `node` whose target is the request's reply-to (or
    /// the only one): replies are routed by link (EVENTHUBS.md).
    func reply(to request: Message, node: EntityAddress, _ connection: AMQPServerConnection, status: Int32, description: String, body: AMQPValue?) {
        let replyTo: String? = {
            if case .string(let s)? = request.properties?.replyTo { return s } else { return nil }
        }()
        let candidates = links.compactMap { link, role -> (LinkID, String?)? in
            if case .replies(let n, let address) = role, n == node { return (link, address) } else { return nil }
        }
        guard let link = candidates.first(where: { $0.1 != nil && $0.1 == replyTo })?.0 ?? candidates.first?.0 else { return }
        let message = Message(
            properties: Properties(correlationID: request.properties?.messageID),
            applicationProperties: ApplicationProperties([
                .string(EventHubsNames.statusCode): .int(status),
                .string(EventHubsNames.statusDescription): .string(description),
            ]),
            body: body.map { .value(AMQPValueSection($0)) } ?? .value(AMQPValueSection(.null))
        )
        connection.withEngine { _ = try? $0.send(on: link, payload: message.encoded(policy: .full)[...], settled: true) }
    }

    // MARK: Publishing

    func publish(_ delivery: IncomingDelivery, on link: LinkID, hub: String, partition fixed: Int?, _ connection: AMQPServerConnection) {
        if let fault = store.configuration.publishFault?(hub) {
            settle(delivery, on: link, connection, .rejected(Rejected(error: fault)))
            return
        }
        let limit = store.configuration.maxMessageSize
        guard UInt64(delivery.payload.count) <= limit else {
            settle(delivery, on: link, connection, .rejected(Rejected(error: AMQPError(
                condition: .link(.messageSizeExceeded), description: "\(delivery.payload.count) bytes exceed the limit of \(limit)"))))
            return
        }
        let events: [NewEvent]
        let partitionKey: String?
        do {
            (events, partitionKey) = try Self.unpack(delivery)
        } catch {
            settle(delivery, on: link, connection, .rejected(Rejected(error: AMQPError(condition: .amqp(.decodeError), description: "\(error)"))))
            return
        }
        guard !events.isEmpty else {
            settle(delivery, on: link, connection, .accepted(Accepted()))
            return
        }
        let partition = fixed ?? store.choosePartition(hub: hub, partitionKey: partitionKey)
        guard let log = store.partition(hub: hub, id: partition) else { return }
        do {
            _ = try log.append(events, now: clock()) { message, stored in
                var annotations = message.messageAnnotations?.value ?? AMQPMap()
                if let key = stored.partitionKey { annotations[symbol: EventHubsNames.partitionKey] = .string(key) }
                annotations[symbol: EventHubsNames.sequenceNumber] = .long(stored.sequenceNumber)
                annotations[symbol: EventHubsNames.offset] = .string(String(stored.offset))
                annotations[symbol: EventHubsNames.enqueuedTime] = .timestamp(Timestamp(millisecondsSince1970: stored.enqueuedTime))
                message.messageAnnotations = MessageAnnotations(annotations)
            }
            settle(delivery, on: link, connection, .accepted(Accepted()))
        } catch {
            settle(delivery, on: link, connection, .rejected(Rejected(error: AMQPError(condition: .amqp(.internalError), description: "\(error)"))))
        }
    }

    /// The events in a delivery: a batch envelope (format 0x80013700) holds one encoded event per
    /// data section and may carry the partition key for all of them; otherwise the message is
    /// the one event.
    static func unpack(_ delivery: IncomingDelivery) throws -> ([NewEvent], String?) {
        var decoder = AMQPDecoder(delivery.payload)
        let message = try Message(from: &decoder)
        let envelopeKey = partitionKey(of: message)
        guard delivery.messageFormat == EventHubsNames.batchMessageFormat else {
            return ([NewEvent(message: Array(delivery.payload), headerEnd: 0, partitionKey: envelopeKey)], envelopeKey)
        }
        guard case .data(let sections) = message.body else {
            throw AMQPDecodingError(.unexpectedType, at: 0, "a batch envelope carries its events in data sections")
        }
        var events: [NewEvent] = []
        for section in sections {
            let bytes = Array(section.value.bytes)
            let event = try Message(decoding: bytes)
            events.append(NewEvent(message: bytes, headerEnd: 0, partitionKey: envelopeKey ?? partitionKey(of: event)))
        }
        return (events, envelopeKey)
    }

    static func partitionKey(of message: Message) -> String? {
        if case .string(let key)? = message.messageAnnotations?.value[symbol: EventHubsNames.partitionKey] { return key }
        return nil
    }

    // MARK: Consuming

    func attachConsumer(_ link: LinkID, _ attach: Attach, _ connection: AMQPServerConnection,
                        hub hubName: String, group: String, partition: Int, address: EntityAddress) {
        guard let hub = store.hub(hubName) else {
            refuse(link, attach, connection, .amqp(.notFound), "event hub \(hubName) does not exist")
            return
        }
        guard let groupName = hub.allConsumerGroups.first(where: { $0.lowercased() == group.lowercased() }) else {
            refuse(link, attach, connection, .amqp(.notFound), "event hub \(hub.name) has no consumer group \(group)")
            return
        }
        guard let log = store.partition(hub: hub.name, id: partition) else {
            refuse(link, attach, connection, .amqp(.notFound), "event hub \(hub.name) has no partition \(partition)")
            return
        }
        guard isAuthorized(address.authorizationPath) else {
            refuse(link, attach, connection, .amqp(.unauthorizedAccess), "no valid token for \(hub.name)/ConsumerGroups/\(groupName): put one on $cbs first")
            return
        }
        var position = EventPosition.earliest
        if case .source(let source)? = attach.source, let filter = source.filter {
            for entry in filter.entries {
                guard case .described(let descriptor, .string(let expression)) = entry.value,
                      descriptor == .symbol(EventHubsNames.selectorFilter) || descriptor == .ulong(EventHubsNames.selectorFilterCode)
                else { continue }
                guard let parsed = EventPosition(selectorExpression: expression) else {
                    refuse(link, attach, connection, .amqp(.invalidField), "cannot read the selector \(expression)")
                    return
                }
                position = parsed
            }
        }
        var ownerLevel: Int64? = nil
        switch attach.properties?[symbol: EventHubsNames.epoch] {
        case .long(let v)?: ownerLevel = v
        case .int(let v)?: ownerLevel = Int64(v)
        default: break
        }
        let metrics = attach.desiredCapabilities.contains(EventHubsNames.receiverRuntimeMetric)
        let consumer = Consumer(log: log, hub: hub.name, group: groupName, next: log.startSequenceNumber(for: position), runtimeMetrics: metrics)
        let boundConnection = NIOLoopBound(connection, eventLoop: connection.eventLoop)
        let boundSelf = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let admission = store.admitReceiver(hub: hub.name, group: groupName, partition: partition, ownerLevel: ownerLevel) { error in
            boundConnection.eventLoop.execute {
                boundConnection.value.withEngine { $0.detachLink(link, closed: true, error: error) }
                boundSelf.value.removeLink(link)
            }
        }
        switch admission {
        case .refused(let error):
            refuse(link, attach, connection, error)
            return
        case .admitted(let id):
            consumer.admission = id
        }
        links[link] = .consumer(consumer)
        consumer.listener = log.addListener {
            boundConnection.eventLoop.execute {
                let delegate = boundSelf.value
                guard case .consumer(let c)? = delegate.links[link] else { return }
                delegate.pump(link, c, boundConnection.value)
            }
        }
        var properties: Fields? = nil
        if let ownerLevel { properties = [.symbol(EventHubsNames.epoch): .long(ownerLevel)] }
        accept(link, attach, connection, credit: nil, presettled: true,
               offeredCapabilities: metrics ? [EventHubsNames.receiverRuntimeMetric] : [], properties: properties)
    }

    /// Sends the consumer as many events as its credit allows, pre-settled.
    func pump(_ link: LinkID, _ consumer: Consumer, _ connection: AMQPServerConnection) {
        while true {
            let engine = connection.engine
            let credit = Int(engine.credit(of: link) ?? 0) - (engine.queuedDeliveries(on: link) ?? 0)
            guard credit > 0 else { return }
            let batch = consumer.log.read(from: consumer.next, limit: min(credit, 256))
            guard !batch.isEmpty else { return }
            let metrics = consumer.runtimeMetrics ? runtimeMetrics(consumer.log) : nil
            connection.withEngine { engine in
                for (event, bytes) in batch {
                    var payload = bytes[...]
                    if let metrics {
                        let annotations = AMQPEncoder.encode(DeliveryAnnotations(metrics), policy: .full)
                        payload = (bytes[..<event.headerEnd] + annotations + bytes[event.headerEnd...])[...]
                    }
                    _ = try? engine.send(on: link, payload: payload, settled: true)
                    consumer.next = event.sequenceNumber + 1
                }
            }
        }
    }

    func runtimeMetrics(_ log: PartitionLog) -> AMQPMap {
        let p = log.properties
        return [
            .symbol(EventHubsNames.lastEnqueuedSequenceNumber): .long(p.lastEnqueuedSequenceNumber),
            .symbol(EventHubsNames.lastEnqueuedOffset): .string(p.lastEnqueuedOffset),
            .symbol(EventHubsNames.lastEnqueuedTimeUTC): .timestamp(Timestamp(millisecondsSince1970: p.lastEnqueuedTime)),
            .symbol(EventHubsNames.runtimeInfoRetrievalTimeUTC): .timestamp(Timestamp(millisecondsSince1970: clock())),
        ]
    }

    // MARK: Helpers

    func settle(_ delivery: IncomingDelivery, on link: LinkID, _ connection: AMQPServerConnection, _ state: DeliveryState) {
        guard !delivery.isSettled else { return }
        connection.withEngine { engine in
            try? engine.settle(delivery.deliveryID, on: link, state: state)
            if (engine.credit(of: link) ?? 0) < 200 { try? engine.setCredit(1000, on: link) }
        }
    }

    func decode(_ delivery: IncomingDelivery) throws -> Message {
        var decoder = AMQPDecoder(delivery.payload)
        return try Message(from: &decoder)
    }

    func stringProperty(_ map: AMQPMap?, _ key: String) -> String? {
        switch map?[.string(key)] ?? map?[.symbol(Symbol(key) ?? "x")] {
        case .string(let s)?: return s
        case .symbol(let s)?: return s.stringValue
        default: return nil
        }
    }
}
