import AMQPEventHubs
import AMQPProtocol
import AMQPTransport
import Foundation
import Testing

@Suite("Connection strings, credentials and connection options")
struct ConnectionStringTests {
    static let azure = "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleQ==;EntityPath=telemetry"

    @Test("an Azure connection string: TLS on 5671, verified, SNI and open.hostname the namespace, SASL ANONYMOUS for CBS")
    func azureOptions() throws {
        let cs = try EventHubsConnectionString(Self.azure)
        let endpoint = try EventHubsEndpoint(cs)
        #expect(endpoint.hubAudience == "sb://myns.servicebus.windows.net/telemetry")
        #expect(endpoint.consumerGroupAudience("$Default") == "sb://myns.servicebus.windows.net/telemetry/consumergroups/$default")
        let options = try endpoint.connectionOptions(credential: try EventHubsCredential(cs), options: .init())
        #expect(options.host == "myns.servicebus.windows.net")
        #expect(options.port == 5671)
        guard case .enabled(let tls) = options.tls else {
            Issue.record("TLS is off")
            return
        }
        #expect(tls.certificateVerification == .fullVerification)
        #expect(options.serverName == "myns.servicebus.windows.net")
        #expect(options.virtualHost == "myns.servicebus.windows.net")
        #expect("\(options.authentication)" == "ANONYMOUS")
        #expect(options.cleartextCredentials == .refused)
        #expect(options.transportSecurity == .encrypted)
        #expect(options.streamLayer == nil)
    }

    @Test("the Endpoint is read by the package's one URL parser: an IPv6 host loses its brackets, the port is kept, and it is written back in brackets")
    func ipv6Endpoint() throws {
        let cs = try EventHubsConnectionString("Endpoint=sb://[::1]:5673/;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=eh1;UseDevelopmentEmulator=true")
        #expect(cs.host == "::1")
        #expect(cs.port == 5673)
        #expect(cs.text.hasPrefix("Endpoint=sb://[::1]:5673/;"))
        #expect(try EventHubsConnectionString(cs.text) == cs)
        let options = try EventHubsEndpoint(cs).connectionOptions(credential: try EventHubsCredential(cs), options: .init())
        #expect(options.host == "::1")
        #expect(options.port == 5673)
        // An unbracketed IPv6 address, a bad port and user information are refused, naming the Endpoint.
        for endpoint in ["sb://::1:5673/", "sb://host:99999/", "sb://user:secret@host/", "http://host/"] {
            #expect(throws: EventHubsConnectionString.ParseError.self) {
                try EventHubsConnectionString("Endpoint=\(endpoint);SharedAccessKeyName=k;SharedAccessKey=v")
            }
        }
    }

    @Test("WebSockets: port 443 inside TLS, /$servicebus/websocket, subprotocol amqp")
    func webSocketOptions() throws {
        let cs = try EventHubsConnectionString(Self.azure)
        let options = try EventHubsEndpoint(cs).connectionOptions(credential: try EventHubsCredential(cs), options: .init(transport: .webSockets))
        #expect(options.port == 443)
        guard case .enabled = options.tls else {
            Issue.record("TLS is off")
            return
        }
        let layer = try #require(options.streamLayer)
        #expect("\(layer)" == "WebSocket upgrade to /$servicebus/websocket (subprotocol amqp)")
        // WebSocket inside TLS is an encrypted transport: PLAIN may run over it.
        #expect(options.transportSecurity == .encrypted)
        let plain = try EventHubsEndpoint(cs).connectionOptions(credential: try EventHubsCredential(cs),
                                                                options: .init(transport: .webSockets, authorization: .saslPlain))
        #expect(Self.permitsPlain(plain))
    }

    /// What the transport's one cleartext rule says about SASL PLAIN on these options.
    static func permitsPlain(_ options: AMQPConnectionOptions) -> Bool {
        options.cleartextCredentials.permits(PlainMechanism(username: "k", password: "v"), over: options.transportSecurity)
    }

    @Test("SASL PLAIN needs TLS, except for a development emulator on loopback")
    func plainOnlyOnLoopbackEmulator() throws {
        let plain = EventHubsClientOptions(authorization: .saslPlain)
        let azure = try EventHubsConnectionString(Self.azure)
        let azureOptions = try EventHubsEndpoint(azure).connectionOptions(credential: try EventHubsCredential(azure), options: plain)
        // Allowed on loopback only; Azure is TLS, where the rule lets PLAIN run anyway.
        #expect(azureOptions.cleartextCredentials == .allowedOnLoopback)
        #expect(azureOptions.transportSecurity == .encrypted && Self.permitsPlain(azureOptions))
        #expect("\(azureOptions.authentication)" == "PLAIN(send, <redacted>)")

        let local = try EventHubsConnectionString("Endpoint=sb://localhost:5673;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=eh1;UseDevelopmentEmulator=true")
        let localOptions = try EventHubsEndpoint(local).connectionOptions(credential: try EventHubsCredential(local), options: plain)
        #expect(localOptions.port == 5673)
        guard case .disabled = localOptions.tls else {
            Issue.record("a development emulator is plain TCP")
            return
        }
        #expect(localOptions.transportSecurity == .loopback && Self.permitsPlain(localOptions))
        #expect(try EventHubsEndpoint(local).hubAudience == "sb://localhost:5673/eh1")
        // The same over WebSockets (plain HTTP to the emulator on this machine).
        let localWebSocket = try EventHubsEndpoint(local).connectionOptions(
            credential: try EventHubsCredential(local), options: .init(transport: .webSockets, authorization: .saslPlain))
        #expect(localWebSocket.transportSecurity == .loopback && Self.permitsPlain(localWebSocket))

        let remote = try EventHubsConnectionString("Endpoint=sb://build-box.example.com:5672;SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=eh1;UseDevelopmentEmulator=true")
        let remoteOptions = try EventHubsEndpoint(remote).connectionOptions(credential: try EventHubsCredential(remote), options: plain)
        #expect(remoteOptions.transportSecurity == TransportSecurity.none && !Self.permitsPlain(remoteOptions))
        // A custom endpoint decides by where the client connects: a tunnel on loopback is fine.
        var tunnel = plain
        tunnel.customEndpoint = (host: "127.0.0.1", port: 15672)
        #expect(Self.permitsPlain(try EventHubsEndpoint(remote).connectionOptions(credential: try EventHubsCredential(remote), options: tunnel)))

        // A token provider cannot do PLAIN.
        #expect(throws: EventHubsError.self) {
            try EventHubsEndpoint(azure).connectionOptions(credential: .sharedAccessSignature("SharedAccessSignature sr=a&sig=b&se=1&skn=c"), options: plain)
        }
    }

    @Test("a bad connection string names the bad part, never the key")
    func errorsNameThePart() throws {
        let secret = "TOP-SECRET-KEY"
        let cases: [(String, String)] = [
            ("SharedAccessKeyName=a;SharedAccessKey=\(secret);EntityPath=e", "Endpoint"),
            ("Endpoint=sb://h/;SharedAccessKey=\(secret)", "SharedAccessKeyName"),
            ("Endpoint=sb://h/;SharedAccessKeyName=a", "SharedAccessKey"),
            ("Endpoint=ftp://h/;SharedAccessKeyName=a;SharedAccessKey=\(secret)", "Endpoint"),
            ("Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=\(secret);Bogus=1", "Bogus"),
            ("Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=\(secret);UseDevelopmentEmulator=yes", "UseDevelopmentEmulator"),
            ("Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=\(secret);EntityPath=", "EntityPath"),
        ]
        for (text, part) in cases {
            do {
                _ = try EventHubsClient(connectionString: text)
                Issue.record("\(part): accepted")
            } catch {
                #expect(error.kind == .invalidArgument)
                #expect(error.description.contains(part), "\(error)")
                #expect(!error.description.contains(secret))
            }
        }
        // A string without EntityPath needs the hub from the caller.
        #expect(throws: EventHubsError.self) { try EventHubsClient(connectionString: "Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=k") }
        let client = try EventHubsClient(connectionString: "Endpoint=sb://h/;SharedAccessKeyName=a;SharedAccessKey=k", eventHubName: "hub")
        #expect(client.eventHubName == "hub")
    }

    @Test("keys and signatures never appear in descriptions")
    func redaction() throws {
        let cs = try EventHubsConnectionString(Self.azure)
        #expect(!"\(cs)".contains("c2VjcmV0LWtleQ=="))
        let credential = try EventHubsCredential(cs)
        #expect(!"\(credential)".contains("c2VjcmV0LWtleQ=="))
        let signature = SharedAccessSignature(audience: "sb://a/b", keyName: "n", key: "k", expiry: 10)
        let presigned = EventHubsCredential.sharedAccessSignature(signature.token)
        #expect(!"\(presigned)".contains(signature.signature))
        let token = EventHubsAccessToken(token: "eyJ-secret", type: .jsonWebToken, expiresOn: Date())
        #expect(!"\(token)".contains("eyJ-secret"))
        let options = try EventHubsEndpoint(cs).connectionOptions(credential: credential, options: .init(authorization: .saslPlain))
        #expect(!"\(options.authentication)".contains("c2VjcmV0LWtleQ=="))
    }

    @Test("a pre-signed signature's expiry comes from se=")
    func presignedExpiry() throws {
        let token = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: "RootManageSharedAccessKey", key: "SAS_KEY_VALUE", expiry: 1_795_583_819).token
        let cs = try EventHubsConnectionString("Endpoint=sb://localhost/;SharedAccessSignature=\(token);EntityPath=eh1")
        guard case .sharedAccessSignature(let text) = try EventHubsCredential(cs) else {
            Issue.record("not a pre-signed credential")
            return
        }
        #expect(text == token)
        #expect(SharedAccessSignature(parsing: text)?.expiry == 1_795_583_819)
    }

    @Test("the token reproduces EVENTHUBS.md's test vector")
    func testVector() {
        let signature = SharedAccessSignature(audience: "sb://localhost/eh1", keyName: "RootManageSharedAccessKey", key: "SAS_KEY_VALUE", expiry: 1_795_583_819)
        #expect(signature.token == "SharedAccessSignature sr=sb%3A%2F%2Flocalhost%2Feh1&sig=s%2FCyEpxIZHNvqc8ZsqeOmDB5FQqsdiuaRxa6bahd1BU%3D&se=1795583819&skn=RootManageSharedAccessKey")
        #expect(SharedAccessSignature(parsing: signature.token) == signature)
        #expect(signature.isSigned(withKey: "SAS_KEY_VALUE"))
        #expect(!signature.isSigned(withKey: "SAS_KEY_VALUE2"))
    }

    @Test("retry delays grow exponentially, with jitter, up to the cap")
    func retryDelays() {
        let exact = EventHubsRetryOptions(delay: .milliseconds(800), maxDelay: .seconds(5), jitter: 0)
        let expected: [Duration] = [.milliseconds(800), .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5)]
        #expect((0..<5).map { exact.delay(beforeRetry: $0) } == expected)
        let fixed = EventHubsRetryOptions(delay: .milliseconds(300), mode: .fixed, jitter: 0)
        #expect(fixed.delay(beforeRetry: 4) == .milliseconds(300))
        let jittered = EventHubsRetryOptions(delay: .seconds(1), maxDelay: .seconds(100), jitter: 0.2)
        let samples = (0..<200).map { _ in jittered.delay(beforeRetry: 1) }
        // Jitter only adds: up to 0.2 × the 1 s base delay (.NET's BasicRetryPolicy).
        #expect(samples.allSatisfy { $0 >= .milliseconds(2000) && $0 < .milliseconds(2200) })
        #expect(Set(samples).count > 100, "jitter varies the delays")
    }
}
