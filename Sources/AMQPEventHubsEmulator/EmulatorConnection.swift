import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPProtocol
import AMQPTransport
import AMQPTypes
import Foundation
import NIOCore

/// Link addresses as clients give them (`HUB`, `HUB/Partitions/ID`,
/// `HUB/ConsumerGroups/CG/Partitions/ID`, `$cbs`, `$management`, optionally as a full
/// `amqps://host/…` URI): Event Hubs' vocabulary, shared with the client.
typealias EntityAddress = EventHubsEntityAddress

/// One client connection to the emulator, on its event loop.
final class EmulatorConnection: AMQPServerConnectionDelegate {
    let store: EventHubsStore
    let clock: @Sendable () -> Int64
    typealias Rights = EmulatorConfiguration.Rights
    /// Set when SASL PLAIN checked a SAS key name and key: that key's rights on every hub, for
    /// as long as the connection lasts.
    var plainRights: Rights?
    /// What CBS tokens granted: audience path → until when (ms since 1970) and with which rights.
    var grants: [String: (expiry: Int64, rights: Rights)] = [:]
    /// What each producer and consumer link was authorized by: checked again as tokens expire,
    /// since a token that is not renewed ends the links it allowed.
    var authorizations: [LinkID: (path: String, needs: Rights)] = [:]
    /// Checks the links' tokens every second while CBS-authorized links exist.
    var expiryCheck: RepeatedTask?
    /// How often links' tokens are checked for expiry.
    static let expiryCheckInterval = TimeAmount.seconds(1)

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
        /// The largest message the consumer's attach accepts (`nil`: no limit).
        let maxMessageSize: UInt64?
        var listener: UInt64?
        var admission: UInt64?

        init(log: PartitionLog, hub: String, group: String, next: Int64, runtimeMetrics: Bool, maxMessageSize: UInt64?) {
            self.log = log
            self.hub = hub
            self.group = group
            self.next = next
            self.runtimeMetrics = runtimeMetrics
            self.maxMessageSize = maxMessageSize
        }
    }

    var links: [LinkID: Role] = [:]
    /// Producer links that publish idempotently, with the state their attach was answered with.
    var idempotentLinks: [LinkID: IdempotentProducerState] = [:]

    init(store: EventHubsStore, clock: @escaping @Sendable () -> Int64) {
        self.store = store
        self.clock = clock
    }

    func handle(_ event: ConnectionEvent, on connection: AMQPServerConnection) {
        switch event {
        case .authenticated(let identity, let mechanism):
            // PLAIN here means a SAS key name and key were checked (the seed's path).
            if mechanism == "PLAIN" { plainRights = store.configuration.rights(ofKey: identity) }
        case .linkAttachRequested(_, let link, let attach):
            attachRequested(link, attach, connection)
        case .delivery(let link, let delivery):
            switch links[link] {
            case .cbsRequests?: handleCBS(delivery, on: link, connection)
            case .managementRequests?: handleManagement(delivery, on: link, connection)
            case .producer(let hub, let partition)?:
                // A publish after its token expired is not stored: the link ends instead.
                guard stillAuthorized(link, connection) else { return }
                publish(delivery, on: link, hub: hub, partition: partition, connection)
            default: break
            }
        case .creditGranted(let link, _, _):
            if case .consumer(let consumer)? = links[link], stillAuthorized(link, connection) { pump(link, consumer, connection) }
        case .linkDetached(let link, _, _, _):
            removeLink(link)
        default:
            break
        }
    }

    func connectionWritabilityChanged(_ connection: AMQPServerConnection) {
        guard connection.isWritable else { return }
        for (link, role) in links {
            if case .consumer(let consumer) = role { pump(link, consumer, connection) }
        }
    }

    func connectionClosed(_ connection: AMQPServerConnection) {
        expiryCheck?.cancel()
        expiryCheck = nil
        for link in Array(links.keys) { removeLink(link) }
    }

    func removeLink(_ link: LinkID) {
        idempotentLinks[link] = nil
        authorizations.removeValue(forKey: link)
        guard let role = links.removeValue(forKey: link) else { return }
        if case .consumer(let consumer) = role {
            if let listener = consumer.listener { consumer.log.removeListener(listener) }
            if let admission = consumer.admission {
                store.removeReceiver(hub: consumer.hub, group: consumer.group, partition: consumer.log.id, id: admission)
            }
        }
    }

    // MARK: Authorization

    /// Whether `path` may be used for what `needs` names (`[]`: any right, as reading a hub's
    /// properties needs).
    func isAuthorized(_ path: String, needs: Rights) -> Bool {
        if let plainRights { return plainRights.isSuperset(of: needs) && !plainRights.isEmpty }
        let now = clock()
        return grants.contains { granted, grant in
            grant.expiry > now && EventHubsAudience.covers(granted, path) && grant.rights.isSuperset(of: needs)
        }
    }

    /// Records what authorized `link`, and checks it again every second from now on.
    func authorize(_ link: LinkID, path: String, needs: Rights, _ connection: AMQPServerConnection) {
        authorizations[link] = (path, needs)
        guard plainRights == nil, expiryCheck == nil else { return }
        let bound = NIOLoopBound((self, connection), eventLoop: connection.eventLoop)
        expiryCheck = connection.eventLoop.scheduleRepeatedTask(initialDelay: Self.expiryCheckInterval, delay: Self.expiryCheckInterval) { _ in
            let (delegate, connection) = bound.value
            for link in Array(delegate.authorizations.keys) { _ = delegate.stillAuthorized(link, connection) }
        }
    }

    /// Whether `link`'s authorization still holds; if its token expired (and no other covers
    /// it), the link is detached with `amqp:unauthorized-access`, as the service does.
    func stillAuthorized(_ link: LinkID, _ connection: AMQPServerConnection) -> Bool {
        guard let (path, needs) = authorizations[link] else { return true }
        if isAuthorized(path, needs: needs) { return true }
        connection.withEngine {
            $0.detachLink(link, closed: true, error: AMQPError(
                condition: .amqp(.unauthorizedAccess),
                description: "the token that authorized \(path) expired and was not renewed on $cbs"))
        }
        removeLink(link)
        return false
    }

    enum TokenCheck {
        /// Valid until this time (ms since 1970), with its key's rights.
        case valid(until: Int64, rights: Rights)
        case invalid(String)
    }

    /// Checks a token for `audience`.
    func verify(token: String, type: String, audience: String) -> TokenCheck {
        if type == EventHubsNames.jwtTokenType {
            let issuers = store.configuration.jwtIssuers
            if !issuers.isEmpty {
                switch JWTIssuer.verify(token, issuers: issuers, now: clock()) {
                // A verified Entra ID token stands for an identity the emulator does not map to
                // roles: it may send, listen and manage, as a key without rights may.
                case .valid(let until): return .valid(until: until, rights: .all)
                case .invalid(let reason): return .invalid(reason)
                }
            }
            return store.configuration.acceptsJWT ? .valid(until: Int64.max, rights: .all) : .invalid("jwt tokens are not accepted by this emulator")
        }
        guard type == EventHubsNames.sasTokenType else { return .invalid("unknown token type \(type)") }
        guard let sas = SharedAccessSignature(parsing: token) else { return .invalid("not a SharedAccessSignature token") }
        guard let key = store.configuration.keys[sas.keyName] else { return .invalid("unknown key name \(sas.keyName)") }
        guard sas.isSigned(withKey: key) else { return .invalid("signature does not match the key \(sas.keyName)") }
        // `se` is the client's number: any Int64 must be handled, not trapped on.
        let (milliseconds, overflow) = sas.expiry.multipliedReportingOverflow(by: 1000)
        let expiry = overflow ? (sas.expiry < 0 ? Int64.min : Int64.max) : milliseconds
        guard expiry > clock() else { return .invalid("token expired") }
        let granted = EventHubsAudience.path(of: sas.audience)
        let wanted = EventHubsAudience.path(of: audience)
        guard EventHubsAudience.covers(granted, wanted) else {
            return .invalid("token for \(sas.audience) does not cover \(audience)")
        }
        return .valid(until: expiry, rights: store.configuration.rights(ofKey: sas.keyName))
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
                guard let number = Int(id), number < config.partitionCount else {
                    refuse(link, attach, connection, .amqp(.notFound), "event hub \(hub) has no partition \(id)")
                    return
                }
                partition = number
            }
            guard isAuthorized(address.authorizationPath, needs: []) else {
                refuse(link, attach, connection, .amqp(.unauthorizedAccess), "no valid token for \(hub): put one on $cbs first")
                return
            }
            guard isAuthorized(address.authorizationPath, needs: .send) else {
                refuse(link, attach, connection, .amqp(.unauthorizedAccess), "the key's rights do not include Send on \(hub)")
                return
            }
            if Self.wantsIdempotence(attach) {
                attachIdempotentProducer(link, attach, connection, hub: config.name, partition: partition)
                // Its token's expiry ends it like any producer's (a refused attach is removed again).
                if links[link] != nil { authorize(link, path: address.authorizationPath, needs: .send, connection) }
                return
            }
            links[link] = .producer(hub: config.name, partition: partition)
            authorize(link, path: address.authorizationPath, needs: .send, connection)
            accept(link, attach, connection, credit: 1000)
        case (.consumer(let hub, let group, let partition), false):
            guard let number = Int(partition) else {
                refuse(link, attach, connection, .amqp(.notFound), "event hub \(hub) has no partition \(partition)")
                return
            }
            attachConsumer(link, attach, connection, hub: hub, group: group, partition: number, address: address)
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
        // Every delivery is handled before the next event (stored or answered), pre-settled or
        // not, so the engine's credit window frees credit as deliveries arrive.
        connection.acceptLink(
            // Both termini in the reply: the Python SDK expects them.
            link, answering: attach, creditWindow: credit,
            source: attach.source ?? .source(Source()), target: attach.target ?? .target(Target()),
            maxMessageSize: maxMessageSize,
            // Oversized events are rejected with message-size-exceeded, not cut off by a detach.
            enforcedMaxMessageSize: maxMessageSize * 4 + 65536,
            senderSettleMode: presettled ? .settled : nil,
            properties: properties, offeredCapabilities: offeredCapabilities)
    }

    // MARK: CBS

    func handleCBS(_ delivery: IncomingDelivery, on link: LinkID, _ connection: AMQPServerConnection) {
        settle(delivery, on: link, connection, .accepted(Accepted()))
        guard let message = try? decode(delivery) else { return }
        var status = ManagementStatus(code: 202, description: "Accepted")
        do {
            let request = try CBSPutTokenRequest(message)
            switch verify(token: request.token, type: request.tokenType, audience: request.audience) {
            case .valid(let expiry, let rights):
                grants[EventHubsAudience.path(of: request.audience)] = (min(expiry, request.expiration?.millisecondsSince1970 ?? expiry), rights)
            case .invalid(let reason):
                status = ManagementStatus(code: 401, description: "Unauthorized: \(reason)")
            }
        } catch {
            status = ManagementStatus(code: 400, description: error.description)
        }
        reply(to: message, node: .cbs, connection, status: status)
    }

    // MARK: Management

    func handleManagement(_ delivery: IncomingDelivery, on link: LinkID, _ connection: AMQPServerConnection) {
        settle(delivery, on: link, connection, .accepted(Accepted()))
        guard let message = try? decode(delivery) else { return }
        let request: ManagementReadRequest
        do {
            request = try ManagementReadRequest(message)
        } catch {
            reply(to: message, node: .management, connection, status: ManagementStatus(code: 400, description: error.description))
            return
        }
        guard let hub = store.hub(request.hub) else {
            reply(to: message, node: .management, connection, status: ManagementStatus(code: 404, description: "event hub \(request.hub) does not exist"))
            return
        }
        var allowed = isAuthorized(hub.name.lowercased(), needs: [])
        if !allowed, let token = request.securityToken,
           case .valid = verify(token: token, type: EventHubsNames.sasTokenType, audience: hub.name) {
            allowed = true
        }
        guard allowed else {
            reply(to: message, node: .management, connection,
                  status: ManagementStatus(code: 401, description: "Unauthorized: no valid token for \(hub.name)"))
            return
        }
        let ok = ManagementStatus(code: 200, description: "OK")
        switch request.entityType {
        case EventHubsNames.eventHubEntityType?:
            let description = EventHubDescription(name: hub.name, createdAt: Timestamp(millisecondsSince1970: store.createdAt),
                                                  partitionIDs: (0..<hub.partitionCount).map(String.init))
            reply(to: message, node: .management, connection, status: ok, body: .map(description.map))
        case EventHubsNames.partitionEntityType?:
            guard let text = request.partition, let id = Int(text), let log = store.partition(hub: hub.name, id: id) else {
                reply(to: message, node: .management, connection, status: ManagementStatus(code: 404, description: "no such partition"))
                return
            }
            if let refusal = log.refusal {
                reply(to: message, node: .management, connection, status: ManagementStatus(code: 500, description: refusal))
                return
            }
            let p = log.properties
            let description = PartitionDescription(
                hub: hub.name, partition: String(id), beginSequenceNumber: p.beginSequenceNumber,
                lastEnqueuedSequenceNumber: p.lastEnqueuedSequenceNumber, lastEnqueuedOffset: p.lastEnqueuedOffset,
                lastEnqueuedTime: Timestamp(millisecondsSince1970: p.lastEnqueuedTime), isEmpty: p.isEmpty)
            reply(to: message, node: .management, connection, status: ok, body: .map(description.map))
        default:
            reply(to: message, node: .management, connection,
                  status: ManagementStatus(code: 400, description: "unknown type \(request.entityType ?? "(none)")"))
        }
    }

    /// Sends a reply on the link attached from `node` whose target is the request's reply-to (or
    /// the only one): Event Hubs routes replies by link.
    func reply(to request: Message, node: EntityAddress, _ connection: AMQPServerConnection, status: ManagementStatus, body: AMQPValue? = nil) {
        let replyTo: String? = {
            if case .string(let s)? = request.properties?.replyTo { return s } else { return nil }
        }()
        let candidates = links.compactMap { link, role -> (LinkID, String?)? in
            if case .replies(let n, let address) = role, n == node { return (link, address) } else { return nil }
        }
        guard let link = candidates.first(where: { $0.1 != nil && $0.1 == replyTo })?.0 ?? candidates.first?.0 else { return }
        // Replies wait in the engine until the client gives credit for them; a client that keeps
        // asking without ever giving credit would make them grow without bound.
        let limit = store.configuration.maxQueuedReplies
        let waiting = connection.withEngine { engine in
            links.keys.reduce(0) { sum, id in
                guard case .replies? = links[id] else { return sum }
                return sum + (engine.queuedDeliveries(on: id) ?? 0)
            }
        }
        guard waiting < limit else {
            connection.withEngine {
                $0.detachLink(link, closed: true, error: AMQPError(
                    condition: .amqp(.resourceLimitExceeded),
                    description: "\(waiting) \(node == .cbs ? "$cbs" : "$management") replies are waiting for credit on this connection (at most \(limit))"))
            }
            removeLink(link)
            return
        }
        let message = status.reply(to: request, body: body)
        connection.withEngine { _ = try? $0.send(on: link, payload: message.encoded(policy: .full)[...], settled: true) }
    }

    // MARK: Publishing

    func publish(_ delivery: IncomingDelivery, on link: LinkID, hub: String, partition fixed: Int?, _ connection: AMQPServerConnection) {
        if let fault = store.configuration.publishFault?(hub) {
            settle(delivery, on: link, connection, .rejected(Rejected(error: fault)))
            return
        }
        // Event Hubs rejects an oversized event and keeps the link, so the engine enforces a
        // larger size (see accept) and the advertised one is held here, by the engine's rule.
        let limit = MessageSizeLimit(advertised: store.configuration.maxMessageSize)
        guard limit.admits(delivery.payload.count) else {
            settle(delivery, on: link, connection, .rejected(Rejected(error: limit.exceeded(by: delivery.payload.count, whose: "the event hub's"))))
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
        if let state = idempotentLinks[link] {
            publishIdempotently(delivery, on: link, state: state, events: events, hub: hub, partition: partition, log: log, connection)
            return
        }
        // Settled only once the write (and sync) is done; meanwhile the link's credit is not
        // topped up, so a slow partition slows its own producers and no one else.
        let boundSelf = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let boundConnection = NIOLoopBound(connection, eventLoop: connection.eventLoop)
        let eventLoop = connection.eventLoop
        log.append(events, now: clock(), annotate: Self.annotate) { result in
            let state: DeliveryState
            switch result {
            case .success: state = .accepted(Accepted())
            case .failure(let failure): state = .rejected(Rejected(error: Self.error(for: failure)))
            }
            if eventLoop.inEventLoop {
                boundSelf.value.settle(delivery, on: link, boundConnection.value, state)
            } else {
                eventLoop.execute { boundSelf.value.settle(delivery, on: link, boundConnection.value, state) }
            }
        }
    }

    /// How a publish that stored nothing is rejected.
    static func error(for failure: PartitionLog.AppendFailure) -> AMQPError {
        switch failure.kind {
        case .storage: AMQPError(condition: .amqp(.internalError), description: failure.description)
        case .invalidMessage: AMQPError(condition: .amqp(.decodeError), description: failure.description)
        case .tooLarge: AMQPError(condition: .link(.messageSizeExceeded), description: failure.description)
        }
    }

    /// The service's annotations on a stored event, as consumers receive it.
    static func annotate(_ message: inout Message, _ stored: StoredEvent) {
        var annotations = message.messageAnnotations?.value ?? AMQPMap()
        if let key = stored.partitionKey { annotations[symbol: EventHubsNames.partitionKey] = .string(key) }
        annotations[symbol: EventHubsNames.sequenceNumber] = .long(stored.sequenceNumber)
        annotations[symbol: EventHubsNames.offset] = .string(String(stored.offset))
        annotations[symbol: EventHubsNames.enqueuedTime] = .timestamp(Timestamp(millisecondsSince1970: stored.enqueuedTime))
        message.messageAnnotations = MessageAnnotations(annotations)
    }

    /// The events in a delivery: a batch envelope (format 0x80013700) holds one encoded event per
    /// data section and may carry the partition key for all of them; otherwise the message is
    /// the one event.
    static func unpack(_ delivery: IncomingDelivery) throws -> ([NewEvent], String?) {
        let (events, partitionKey) = try EventBatchEnvelope.events(in: delivery.payload, messageFormat: delivery.messageFormat)
        return (events.map { NewEvent(message: $0.message, headerEnd: 0, partitionKey: $0.partitionKey) }, partitionKey)
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
        guard isAuthorized(address.authorizationPath, needs: []) else {
            refuse(link, attach, connection, .amqp(.unauthorizedAccess), "no valid token for \(hub.name)/ConsumerGroups/\(groupName): put one on $cbs first")
            return
        }
        guard isAuthorized(address.authorizationPath, needs: .listen) else {
            refuse(link, attach, connection, .amqp(.unauthorizedAccess), "the key's rights do not include Listen on \(hub.name)")
            return
        }
        if let refusal = log.refusal {
            refuse(link, attach, connection, .amqp(.internalError), refusal)
            return
        }
        var position = EventPosition.earliest
        if case .source(let source)? = attach.source, let filter = source.filter {
            do {
                position = try EventPosition(sourceFilter: filter) ?? .earliest
            } catch {
                refuse(link, attach, connection, .amqp(.invalidField), error.description)
                return
            }
        }
        var ownerLevel: Int64? = nil
        switch attach.properties?[symbol: EventHubsNames.epoch] {
        case .long(let v)?: ownerLevel = v
        case .int(let v)?: ownerLevel = Int64(v)
        default: break
        }
        let metrics = attach.desiredCapabilities.contains(EventHubsNames.receiverRuntimeMetric)
        let consumer = Consumer(log: log, hub: hub.name, group: groupName, next: log.startSequenceNumber(for: position), runtimeMetrics: metrics,
                                maxMessageSize: attach.maxMessageSize.flatMap { $0 == 0 ? nil : $0 })
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
        authorize(link, path: address.authorizationPath, needs: .listen, connection)
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

    /// Sends the consumer as many events as its credit allows, pre-settled, a batch at a time,
    /// and stops reading the log while the socket is full: a consumer that stops reading costs
    /// the NIO buffer's high-water mark and one batch, not everything it was granted.
    /// ``connectionWritabilityChanged(_:)`` resumes.
    ///
    /// One batch per turn of the event loop: a pump runs inside an engine step (a flow, a new
    /// event in the log), whose output is written only when the step ends, so the socket's
    /// writability says something only between batches.
    func pump(_ link: LinkID, _ consumer: Consumer, _ connection: AMQPServerConnection) {
        do {
            let credit = connection.deliveriesWanted(on: link)
            guard credit > 0 else { return }
            let batch = consumer.log.read(from: consumer.next, limit: min(credit, 256))
            guard !batch.isEmpty else { return }
            let metrics = consumer.runtimeMetrics ? runtimeMetrics(consumer.log) : nil
            let failure = connection.withEngine { engine -> AMQPError? in
                for (event, bytes) in batch {
                    var payload = bytes[...]
                    if let metrics {
                        let annotations = AMQPEncoder.encode(DeliveryAnnotations(metrics), policy: .full)
                        payload = (bytes[..<event.headerEnd] + annotations + bytes[event.headerEnd...])[...]
                    }
                    do {
                        try engine.send(on: link, payload: payload, settled: true)
                    } catch {
                        return undeliverable(event, size: payload.count, consumer, error)
                    }
                    consumer.next = event.sequenceNumber + 1
                }
                return nil
            }
            if let failure {
                // Never step over an event: the link ends, saying which event and why, and a
                // consumer that reattaches from its checkpoint meets the same event again.
                connection.withEngine { $0.detachLink(link, closed: true, error: failure) }
                removeLink(link)
                return
            }
            guard batch.count == 256 else { return }
            let bound = NIOLoopBound((self, connection, consumer), eventLoop: connection.eventLoop)
            connection.eventLoop.execute {
                let (delegate, connection, consumer) = bound.value
                guard case .consumer(let c)? = delegate.links[link], c === consumer else { return }
                delegate.pump(link, c, connection)
            }
        }
    }

    /// Why an event could not be handed to a consumer's link: larger than the consumer's attach
    /// allows (`amqp:link:message-size-exceeded`), or the engine refused the link itself.
    func undeliverable(_ event: StoredEvent, size: Int, _ consumer: Consumer, _ error: any Error) -> AMQPError {
        let what = "event \(event.sequenceNumber) of partition \(consumer.log.id) of \(consumer.hub) cannot be delivered on this link"
        if let limit = consumer.maxMessageSize, UInt64(size) > limit {
            return AMQPError(condition: .link(.messageSizeExceeded), description: "\(what): it is \(size) bytes, over the link's max-message-size of \(limit)")
        }
        return AMQPError(condition: .amqp(.internalError), description: "\(what): \(error)")
    }

    func runtimeMetrics(_ log: PartitionLog) -> AMQPMap {
        let p = log.properties
        return Self.runtimeMetrics(lastSequenceNumber: p.lastEnqueuedSequenceNumber, lastOffset: p.lastEnqueuedOffset,
                                   lastEnqueuedTime: p.lastEnqueuedTime, now: clock())
    }

    static func runtimeMetrics(lastSequenceNumber: Int64, lastOffset: String, lastEnqueuedTime: Int64, now: Int64) -> AMQPMap {
        [
            .symbol(EventHubsNames.lastEnqueuedSequenceNumber): .long(lastSequenceNumber),
            .symbol(EventHubsNames.lastEnqueuedOffset): .string(lastOffset),
            .symbol(EventHubsNames.lastEnqueuedTimeUTC): .timestamp(Timestamp(millisecondsSince1970: lastEnqueuedTime)),
            .symbol(EventHubsNames.runtimeInfoRetrievalTimeUTC): .timestamp(Timestamp(millisecondsSince1970: now)),
        ]
    }

    /// The most bytes runtime metrics can add to a delivered event (their largest values). A
    /// publish is refused unless the event, with the annotations the service adds at publish
    /// and this room, fits max-message-size: as Azure refuses an event its annotations push
    /// over the limit, so that no accepted event is ever too large to deliver.
    static let runtimeMetricsReserve: Int = AMQPEncoder.encode(DeliveryAnnotations(runtimeMetrics(
        lastSequenceNumber: .max, lastOffset: String(Int64.max), lastEnqueuedTime: .max, now: .max)), policy: .full).count

    // MARK: Helpers

    func settle(_ delivery: IncomingDelivery, on link: LinkID, _ connection: AMQPServerConnection, _ state: DeliveryState) {
        guard !delivery.isSettled else { return }
        connection.withEngine { engine in
            try? engine.settle(delivery.deliveryID, on: link, state: state)
        }
    }

    func decode(_ delivery: IncomingDelivery) throws -> Message {
        var decoder = AMQPDecoder(delivery.payload)
        return try Message(from: &decoder)
    }
}
