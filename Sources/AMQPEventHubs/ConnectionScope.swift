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
///
/// Connecting is retried here, once for every caller waiting on it, and no longer than the
/// client's ``EventHubsRetryOptions`` allow; a reconnect that gave up is not retried again by the
/// operations that were waiting for it.
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

    /// A token put for an audience on the current generation, and the task renewing it.
    private struct Authorization {
        var renewal: Task<Void, Never>
        /// When the token put last expires, on ``clock``.
        var expiry: Duration
    }

    let endpoint: EventHubsEndpoint
    let credential: EventHubsCredential
    let options: EventHubsClientOptions
    let logger: Logger
    /// Spans and metrics.
    let telemetry: EventHubsTelemetry
    /// Every sleep, timeout and token time of the client.
    nonisolated let clock: ClientClock
    private var current: Generation?
    private var connecting: Task<Generation, any Error>?
    private var generationCount = 0
    private var closed = false
    /// Audiences authorized on the current generation.
    private var authorizations: [String: Authorization] = [:]
    private var pendingAuthorizations: [String: Task<Void, any Error>] = [:]
    private var management: (generation: Int, link: Task<AMQPRequestResponseLink, any Error>)?

    init(endpoint: EventHubsEndpoint, credential: EventHubsCredential, options: EventHubsClientOptions) {
        self.endpoint = endpoint
        self.credential = credential
        self.options = options
        self.clock = ClientClock(options.clock)
        self.telemetry = EventHubsTelemetry(options: options, endpoint: endpoint)
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
            telemetry.connectionRecovered()
            dropGeneration(current.number)
        }
        if let connecting { return try await connecting.value }
        let task = Task { try await self.reconnect() }
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

    /// The reconnect loop: connection attempts on the retry schedule, until one succeeds, one
    /// fails for good (refused credentials), or the retries are spent.
    private func reconnect() async throws(EventHubsError) -> Generation {
        var schedule = RetrySchedule(options.retry)
        return try await schedule.run(on: clock, {
            generationCount += 1
            return try await connect(generationCount)
        }, onFailure: { error in
            logger.notice("connecting to \(endpoint) failed: \(FailureClassification.classify(error))")
        })
    }

    private func connect(_ number: Int) async throws -> Generation {
        var amqpOptions = try endpoint.connectionOptions(credential: credential, options: options)
        // One attempt may take tryTimeout to get its stream up (TCP; the AMQP handshake after it is
        // bounded by the idle timeout). Capped at a year, which TimeAmount's nanoseconds hold.
        let attempt = options.retry.tryTimeout.components
        amqpOptions.connectTimeout = .seconds(min(max(attempt.seconds, 0), 365 * 86_400)) + .nanoseconds(max(attempt.attoseconds, 0) / 1_000_000_000)
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
        for authorization in authorizations.values { authorization.renewal.cancel() }
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
        for authorization in authorizations.values { authorization.renewal.cancel() }
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
            let obtained = self.clock.now
            let expiry = try await self.putToken(audience: audience, on: generation)
            self.startRenewing(audience, on: generation, obtained: obtained, expiry: expiry)
        }
        pendingAuthorizations[audience] = task
        defer { pendingAuthorizations[audience] = nil }
        try await task.value
    }

    /// When the token last put for `audience` on the current connection expires, on the
    /// client's clock; `nil` when it is not authorized now.
    func authorizationExpiry(_ audience: String) -> Duration? {
        authorizations[audience]?.expiry
    }

    private func startRenewing(_ audience: String, on generation: Generation, obtained: Duration, expiry: Duration) {
        guard current?.number == generation.number, authorizations[audience] == nil else { return }
        let renewal = Task { await self.renew(audience, on: generation, obtained: obtained, expiry: expiry) }
        authorizations[audience] = Authorization(renewal: renewal, expiry: expiry)
    }

    /// When to renew a token valid until `expiry`, obtained at `obtained`: when a tenth of its
    /// lifetime is left (as Microsoft's SDKs do), but never closer to expiry than 5 s or later
    /// than half-way, so that short tokens still renew in time.
    static func renewalTime(obtained: Duration, expiry: Duration) -> Duration {
        let lifetime = expiry - obtained
        let margin = min(max(lifetime * 0.1, .seconds(5)), lifetime * 0.5)
        return expiry - margin
    }

    /// Renews the token for `audience` before each expiry. A renewal that fails is retried on the
    /// retry schedule; when that gives up, the authorization is dropped, so that the next link
    /// that needs it puts a token afresh (and links relying on the old token fail when it runs out).
    private func renew(_ audience: String, on generation: Generation, obtained: Duration, expiry: Duration) async {
        var obtained = obtained
        var expiry = expiry
        while !Task.isCancelled {
            do {
                try await clock.sleep(until: Self.renewalTime(obtained: obtained, expiry: expiry))
            } catch {
                return
            }
            var schedule = RetrySchedule(options.retry)
            let attempt = clock.now
            do {
                expiry = try await schedule.run(on: clock, {
                    try await putToken(audience: audience, on: generation)
                }, onFailure: { error in
                    logger.notice("renewing the token for \(audience) failed: \(FailureClassification.classify(error))")
                })
                obtained = attempt
                authorizations[audience]?.expiry = expiry
                logger.debug("renewed the token for \(audience)")
            } catch {
                guard !Task.isCancelled else { return }
                logger.notice("gave up renewing the token for \(audience); the next link will authorize anew: \(error)")
                authorizations[audience] = nil
                return
            }
        }
    }

    /// Puts a token for `audience` on `$cbs` and returns when it expires, on the client's clock.
    /// A status other than 2xx is an ``EventHubsError`` (401: ``EventHubsError/Kind/authentication``).
    private func putToken(audience: String, on generation: Generation) async throws -> Duration {
        guard let cbs = generation.cbs else { return .seconds(Int64.max) }
        let token = try await credential.token(forAudience: audience, lifetime: options.tokenLifetime, now: clock.date)
        let request = CBSPutTokenRequest(
            token: token.token, tokenType: token.type.cbsName, audience: audience,
            expiration: Timestamp(millisecondsSince1970: Int64(token.expiresOn.timeIntervalSince1970 * 1000)))
        let reply = try await exchange(request.message, on: cbs, what: "put-token for \(audience)")
        try Self.checkStatus(reply, operation: "put-token for \(audience)")
        return clock.instant(at: token.expiresOn)
    }

    /// One request on `$cbs` or `$management`, timed out after the retry options' `tryTimeout`
    /// on the client's clock. (The link's own timeout, in real time, is the same duration: it
    /// only matters when the client's clock is not the real one.)
    private func exchange(_ message: Message, on link: AMQPRequestResponseLink, what: String) async throws -> Message {
        let timeout = options.retry.tryTimeout
        return try await clock.withTimeout(timeout, what) {
            try await link.request(message, timeout: timeout)
        }
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
            request.securityToken = try await credential.token(forAudience: endpoint.hubAudience, lifetime: options.tokenLifetime, now: clock.date).token
        } else if case .sharedAccessSignature(let text) = credential {
            request.securityToken = text
        }
        do {
            return try await exchange(request.message, on: link, what: "$management READ of \(read.hub)")
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
