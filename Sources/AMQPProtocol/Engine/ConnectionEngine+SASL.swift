import AMQPCodec
import AMQPTypes

extension ConnectionEngine {
    mutating func receiveSASLFrame(_ frame: Frame) {
        let performative: SASLPerformative
        do {
            performative = try AMQPDecoder.decode(SASLPerformative.self, from: Array(frame.body))
        } catch {
            fail(.sasl(SASLError(.invalidServerMessage, "undecodable SASL frame: \(error)")))
            return
        }
        switch configuration.role {
        case .client: clientReceivedSASL(performative)
        case .server: serverReceivedSASL(performative)
        }
    }

    // MARK: Client

    mutating func clientReceivedSASL(_ performative: SASLPerformative) {
        switch performative {
        case .saslMechanisms(let offer):
            guard saslClient == nil else {
                fail(.sasl(SASLError(.invalidServerMessage, "second sasl-mechanisms")))
                return
            }
            let offered = Set(offer.saslServerMechanisms)
            guard var mechanism = pendingSASLClientMechanisms.first(where: { offered.contains($0.name) }) else {
                let ours = pendingSASLClientMechanisms.map(\.name.stringValue).joined(separator: ", ")
                let theirs = offer.saslServerMechanisms.map(\.stringValue).joined(separator: ", ")
                fail(.sasl(SASLError(.noCommonMechanism, "the server offers [\(theirs)], we allow [\(ours)]")))
                return
            }
            let transport = tlsDone ? TransportSecurity.encrypted : configuration.transportSecurity
            guard configuration.cleartextCredentials.permits(mechanism, over: transport) else {
                fail(.sasl(SASLError(.plaintextRefused, "refusing to send \(mechanism.name) credentials without TLS (\(transport)); use TLS or allow cleartext credentials explicitly")))
                return
            }
            do {
                let initial = try mechanism.initialResponse()
                saslClient = mechanism
                writeSASL(SASLInit(mechanism: mechanism.name, initialResponse: initial.map { Binary($0) }, hostname: configuration.hostname))
            } catch {
                fail(.sasl(error))
            }
        case .saslChallenge(let challenge):
            guard var mechanism = saslClient else {
                fail(.sasl(SASLError(.invalidServerMessage, "sasl-challenge before sasl-init")))
                return
            }
            do {
                let response = try mechanism.response(to: Array(challenge.challenge.bytes))
                saslClient = mechanism
                writeSASL(SASLResponse(response: Binary(response)))
            } catch {
                fail(.sasl(error))
            }
        case .saslOutcome(let outcome):
            guard var mechanism = saslClient else {
                fail(.sasl(SASLError(.invalidServerMessage, "sasl-outcome before sasl-init")))
                return
            }
            guard outcome.code == .ok else {
                fail(.sasl(SASLError(.authenticationFailed, "the server refused \(mechanism.name) authentication (sasl-code \(outcome.code))")))
                return
            }
            do {
                try mechanism.verifyOutcome(additionalData: outcome.additionalData.map { Array($0.bytes) })
            } catch {
                fail(.sasl(error))
                return
            }
            saslClient = mechanism
            saslDone = true
            decoder.expectProtocolHeader()
            writeHeader(.amqp)
            writeOpen()
            phase = .awaitingHeader
        case .saslInit, .saslResponse, .unknown:
            fail(.sasl(SASLError(.invalidServerMessage, "unexpected SASL frame from the server")))
        }
    }

    // MARK: Server

    mutating func serverReceivedSASL(_ performative: SASLPerformative) {
        let step: SASLServerStep
        switch performative {
        case .saslInit(let initFrame):
            guard saslServer == nil, case .server(let mechanisms, _) = configuration.sasl else {
                fail(.protocolViolation("second sasl-init"))
                return
            }
            guard var mechanism = mechanisms.first(where: { $0.name == initFrame.mechanism }) else {
                finishSASL(.failure(.authentication), mechanism: initFrame.mechanism)
                return
            }
            step = mechanism.start(initialResponse: initFrame.initialResponse.map { Array($0.bytes) }, hostname: initFrame.hostname)
            saslServer = mechanism
        case .saslResponse(let response):
            guard var mechanism = saslServer else {
                fail(.protocolViolation("sasl-response before sasl-init"))
                return
            }
            step = mechanism.step(response: Array(response.response.bytes))
            saslServer = mechanism
        case .saslMechanisms, .saslChallenge, .saslOutcome, .unknown:
            fail(.protocolViolation("unexpected SASL frame from the client"))
            return
        }
        finishSASL(step, mechanism: saslServer?.name ?? "")
    }

    mutating func finishSASL(_ step: SASLServerStep, mechanism: Symbol) {
        switch step {
        case .challenge(let bytes):
            writeSASL(SASLChallenge(challenge: Binary(bytes)))
        case .success(let identity, let additionalData):
            writeSASL(SASLOutcome(code: .ok, additionalData: additionalData.map { Binary($0) }))
            saslDone = true
            decoder.expectProtocolHeader()
            phase = .awaitingHeader
            events.append(.authenticated(identity: identity, mechanism: mechanism))
        case .failure(let failure):
            writeSASL(SASLOutcome(code: failure == .authentication ? .auth : .sys))
            fail(.sasl(SASLError(.authenticationFailed, "client failed \(mechanism) authentication")))
        }
    }
}
