import AMQPCodec
import AMQPEventHubsProtocol
import AMQPMessage
import AMQPTransport
import AMQPTypes
import Foundation
import Logging

/// The one AMQP connection a client's producers, receivers and management calls share, opened
/// on first use and opened again after it is lost; with claims-based security, the tokens put
/// on `$cbs` for each audience in use, renewed before they expire for as long as the
/// connection lives.
actor ConnectionScope {
    /// One connection and what was set up on it. A new generation replaces a lost one.
    final class Generation: Sendable {
        let number: Int
        let connection: AMQPConnection
        /// `$cbs` and `$management`, on a session of their own.
        let controlSession: AMQPSession
        let cbs: AMQPRequestResponseLink?

        init(number: Int, connection: AMQPConnection, controlSession: AMQPSession, cbs: AMQPRequestResponseLink?) {
            self.number = number
            self.connection = connection
            self.controlSession = controlSession
            self.cbs = cbs
        }
    }

    let endpoint: EventHubsEndpoint
    let credential: EventHubsCredential
    let options: EventHubsClientOptions
    let logger: Logger
    private var current: Generation?
    private var connecting: Task<Generation, any Error>?
    private var generationCount = 0
    private var closed = false
    /// Audiences authorized on the current generation, with their renewal tasks.
    private var authorizations: [String: Task<Void, Never>] = [:]
    private var pendingAuthorizations: [String: Task<Void, any Error>] = [:]
    private var management: (generation: Int, link: Task<AMQPRequestResponseLink, any Error>)?

    init(endpoint: EventHubsEndpoint, credential: EventHubsCredential, options: EventHubsClientOptions) {
        self.endpoint = endpoint
        self.credential = credential
        self.options = options
        var logger = options.logger
        logger[metadataKey: "eventhubs.endpoint"] = "\(endpoint)"
        self.logger = logger
    }

    private var usesCBS: Bool { options.authorization == .claimsBasedSecurity }

    // MARK: The connection

    /// The open connection, connecting (once, for all callers) when there is none or it was lost.
    func generation() async throws -> Generation {
        guard !closed else { throw EventHubsError(.clientClosed, detail: "the client is closed") }
        while let current {
            if await current.connection.isOpen { return current }
            // Another caller may have replaced it meanwhile; look again.
            guard self.current === current else { continue }
            logger.notice("connection \(current.number) lost; reconnecting")
            dropGeneration(current.number)
        }
        if let connecting { return try await connecting.value }
        generationCount += 1
        let number = generationCount
        let task = Task { try await self.connect(number) }
        connecting = task
        do {
            let generation = try await task.value
            connecting = nil
            guard !closed else {
                try? await generation.connection.close()
                throw EventHubsError(.clientClosed, detail: "the client is closed")
            }
            current = generation
            return generation
        } catch {
            connecting = nil
            throw error
        }
    }

    private func connect(_ number: Int) async throws -> Generation {
        let amqpOptions = try endpoint.connectionOptions(credential: credential, options: options)
        let connection = try await AMQPConnection.connect(amqpOptions, eventLoopGroup: options.eventLoopGroup)
        do {
            let session = try await connection.openSession()
            var cbs: AMQPRequestResponseLink? = nil
            if usesCBS {
                // Replies are routed by link on $cbs: no reply-to.
                cbs = try await AMQPRequestResponseLink.attach(on: session, node: EventHubsNames.cbsNode, setsReplyTo: false)
            }
            logger.debug("connection \(number) open to \(amqpOptions.host):\(amqpOptions.port)")
            return Generation(number: number, connection: connection, controlSession: session, cbs: cbs)
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Forgets a generation that failed, so that the next call connects again.
    func invalidate(_ number: Int) {
        guard let current, current.number == number else { return }
        let connection = current.connection
        dropGeneration(number)
        Task { try? await connection.close() }
    }

    private func dropGeneration(_ number: Int) {
        guard current?.number == number else { return }
        current = nil
        for task in authorizations.values { task.cancel() }
        authorizations.removeAll()
        pendingAuthorizations.removeAll()
        management = nil
    }

    /// A new session on the current connection, for one link.
    func session() async throws -> (Generation, AMQPSession) {
        let generation = try await generation()
        do {
            return (generation, try await generation.connection.openSession())
        } catch {
            invalidate(generation.number)
            throw error
        }
    }

    func close() async {
        closed = true
        connecting?.cancel()
        for task in authorizations.values { task.cancel() }
        authorizations.removeAll()
        if let current {
            self.current = nil
            try? await current.connection.close()
        }
    }

    // MARK: Claims-based security

    /// Makes sure `audience` is authorized on the current connection: a token is put on `$cbs`
    /// the first time, and renewed from then on. Nothing to do with SASL PLAIN.
    func authorize(_ audience: String) async throws {
        guard usesCBS else { return }
        let generation = try await generation()
        if authorizations[audience] != nil { return }
        if let pending = pendingAuthorizations[audience] { return try await pending.value }
        let task = Task { () async throws -> Void in
            let expiry = try await self.putToken(audience: audience, on: generation)
            self.startRenewing(audience, on: generation, expiry: expiry)
        }
        pendingAuthorizations[audience] = task
        defer { pendingAuthorizations[audience] = nil }
        try await task.value
    }

    private func startRenewing(_ audience: String, on generation: Generation, expiry: Date) {
        guard current?.number == generation.number, authorizations[audience] == nil else { return }
        authorizations[audience] = Task { await self.renew(audience, on: generation, expiry: expiry) }
    }

    /// When to renew a token valid until `expiry`, obtained at `now`: when a tenth of its
    /// lifetime is left (as Microsoft's SDKs do), but never closer to expiry than 5 s or later
    /// than half-way, so that short tokens still renew in time.
    static func renewalTime(obtained now: Date, expiry: Date) -> Date {
        let lifetime = expiry.timeIntervalSince(now)
        let margin = min(max(lifetime * 0.1, 5), lifetime * 0.5)
        return expiry.addingTimeInterval(-margin)
    }

    private func renew(_ audience: String, on generation: Generation, expiry: Date) async {
        var expiry = expiry
        var obtained = Date()
        var failures = 0
        while !Task.isCancelled {
            let wait = failures == 0
                ? Duration.seconds(max(Self.renewalTime(obtained: obtained, expiry: expiry).timeIntervalSinceNow, 0))
                : options.retry.delay(beforeRetry: failures - 1)
            do {
                try await Task.sleep(for: wait)
            } catch {
                return
            }
            do {
                obtained = Date()
                expiry = try await putToken(audience: audience, on: generation)
                failures = 0
                logger.debug("renewed the token for \(audience)")
            } catch {
                guard !Task.isCancelled else { return }
                if Date() >= expiry {
                    // The token ran out: links that need it fail, and the next attach authorizes anew.
                    logger.notice("the token for \(audience) expired and could not be renewed: \(FailureClassification.classify(error))")
                    authorizations[audience] = nil
                    return
                }
                failures += 1
                logger.notice("renewing the token for \(audience) failed, trying again: \(FailureClassification.classify(error))")
            }
        }
    }

    /// Puts a token for `audience` on `$cbs` and returns its expiry. A status other than
    /// 2xx is an ``EventHubsError`` (401: ``EventHubsError/Kind/authentication``).
    private func putToken(audience: String, on generation: Generation) async throws -> Date {
        guard let cbs = generation.cbs else { return .distantFuture }
        let token = try await credential.token(forAudience: audience, lifetime: options.tokenLifetime, now: Date())
        let request = CBSPutTokenRequest(
            token: token.token, tokenType: token.type.cbsName, audience: audience,
            expiration: Timestamp(millisecondsSince1970: Int64(token.expiresOn.timeIntervalSince1970 * 1000)))
        let reply = try await cbs.request(request.message, timeout: options.retry.tryTimeout)
        try Self.checkStatus(reply, operation: "put-token for \(audience)")
        return token.expiresOn
    }

    /// Turns a `$cbs` or `$management` reply's `status-code` into success or an error.
    static func checkStatus(_ reply: Message, operation: String) throws {
        guard let status = ManagementStatus(reply: reply) else {
            throw EventHubsError(.service, detail: "\(operation): the reply has no status-code")
        }
        guard !status.isSuccess else { return }
        let code = status.code
        let text = status.description
        let detail = "\(operation): status \(code)\(text.isEmpty ? "" : " \(text)")"
        switch code {
        case 401, 403: throw EventHubsError(.authentication, condition: "amqp:unauthorized-access", detail: detail)
        case 404: throw EventHubsError(.notFound, condition: "amqp:not-found", detail: detail)
        case 400: throw EventHubsError(.invalidArgument, detail: detail)
        case 503: throw EventHubsError(.serviceBusy, condition: "com.microsoft:server-busy", detail: detail, isTransient: true)
        case 500...: throw EventHubsError(.service, detail: detail, isTransient: true)
        default: throw EventHubsError(.service, detail: detail)
        }
    }

    // MARK: Management

    /// A `$management` request, authorized for the hub; the request-response link is kept for
    /// the connection's lifetime.
    func managementRequest(_ read: ManagementReadRequest) async throws -> Message {
        try await authorize(endpoint.hubAudience)
        let generation = try await generation()
        let link: AMQPRequestResponseLink
        do {
            link = try await managementLink(on: generation)
        } catch {
            invalidateManagement(generation.number)
            throw error
        }
        var request = read
        if case .sharedAccessKey = credential {
            request.securityToken = try await credential.token(forAudience: endpoint.hubAudience, lifetime: options.tokenLifetime, now: Date()).token
        } else if case .sharedAccessSignature(let text) = credential {
            request.securityToken = text
        }
        do {
            return try await link.request(request.message, timeout: options.retry.tryTimeout)
        } catch {
            invalidateManagement(generation.number)
            throw error
        }
    }

    private func managementLink(on generation: Generation) async throws -> AMQPRequestResponseLink {
        if let management, management.generation == generation.number { return try await management.link.value }
        let task = Task {
            try await AMQPRequestResponseLink.attach(on: generation.controlSession, node: EventHubsNames.managementNode)
        }
        management = (generation.number, task)
        return try await task.value
    }

    private func invalidateManagement(_ number: Int) {
        guard let management, management.generation == number else { return }
        self.management = nil
        Task { try? await management.link.value.close() }
    }
}
