import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTypes
import NIOSSL
import Testing

@testable import AMQPTransport

@Suite("AMQP URLs: the one endpoint parser")
struct EndpointParsingTests {
    func parse(_ text: String) throws -> AMQPEndpoint { try AMQPEndpoint(parsing: text) }

    /// The kind of error `text` gives; fails the test when it parses.
    func kind(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> AMQPEndpointError.Kind? {
        do {
            let endpoint = try AMQPEndpoint(parsing: text)
            Issue.record("parsed \(text) as \(endpoint)", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(!error.description.contains("hunter2"), "\(error)", sourceLocation: sourceLocation)
            return error.kind
        }
    }

    @Test("percent-decoding happens once: %2541 arrives as %41, %40 as @, %3A as :")
    func decodedOnce() throws {
        #expect(try parse("amqp://user:%2541@host").password == "%41")
        #expect(try parse("amqp://us%40er:p%40ss%3Aword@host").username == "us@er")
        #expect(try parse("amqp://us%40er:p%40ss%3Aword@host").password == "p@ss:word")
        #expect(try parse("amqp://u:%E2%9C%93@host").password == "✓")
        // What the connection sends is the decoded password, as given once.
        let options = try AMQPConnectionOptions(url: "amqp://user:%2541@host")
        guard case .plain(let username, let password) = options.authentication else {
            Issue.record("not PLAIN: \(options.authentication)")
            return
        }
        #expect(username == "user" && password == "%41")
        #expect(try parse("amqp://host/queue%2Forders").path == "queue/orders")
    }

    @Test("IPv6 hosts lose their brackets: what sockets take; SNI is not sent for an address")
    func ipv6() throws {
        let endpoint = try parse("amqp://[::1]:5673/vhost")
        #expect(endpoint.host == "::1" && endpoint.port == 5673 && endpoint.path == "vhost")
        #expect(try parse("amqps://[2001:db8::1]").host == "2001:db8::1")
        #expect(try parse("amqps://[2001:db8::1]").port == 5671)
        #expect(try AMQPConnectionOptions(url: "amqp://[::1]").host == "::1")
        #expect(AMQPConnection.isIPAddress(try AMQPConnectionOptions(url: "amqps://[::1]").host))
        #expect("\(endpoint)" == "amqp://[::1]:5673/vhost")
        #expect(kind("amqp://::1/q") == .invalidHost)
        #expect(kind("amqp://[::1/q") == .invalidHost)
        #expect(kind("amqp://[not-an-address]/q") == .invalidHost)
        #expect(kind("amqp://[::1]x/q") == .invalidHost)
    }

    @Test("ports: given, defaulted by scheme (5672, 5671), empty means default; out of range or not a number is an error")
    func ports() throws {
        #expect(try parse("amqp://h").port == 5672)
        #expect(try parse("amqps://h").port == 5671)
        #expect(try parse("AMQPS://h").scheme == .amqps)
        #expect(try parse("amqp://h:1").port == 1)
        #expect(try parse("amqp://h:65535").port == 65535)
        #expect(try parse("amqp://h:/q").port == 5672)
        #expect(try parse("amqps://h:5672").port == 5672)
        for bad in ["amqp://h:0", "amqp://h:65536", "amqp://h:-1", "amqp://h:5x", "amqp://h:+5", "amqp://h:0000005672"] {
            #expect(kind(bad) == .invalidPort, "\(bad)")
        }
    }

    @Test("credentials: none, user only, empty password, both; a password without a user is an error")
    func credentials() throws {
        let anonymous = try parse("amqp://h/q")
        #expect(anonymous.username == nil && anonymous.password == nil)
        guard case .anonymous = try AMQPConnectionOptions(url: "amqp://h").authentication else {
            Issue.record("no credentials is not ANONYMOUS")
            return
        }
        let userOnly = try parse("amqp://guest@h")
        #expect(userOnly.username == "guest" && userOnly.password == nil)
        guard case .plain("guest", "") = try AMQPConnectionOptions(url: "amqp://guest@h").authentication else {
            Issue.record("a user without a password is not PLAIN with an empty password")
            return
        }
        let emptyPassword = try parse("amqp://guest:@h")
        #expect(emptyPassword.username == "guest" && emptyPassword.password == "")
        // The last @ ends the user information, as most URL readers take it.
        #expect(try parse("amqp://u:a@b@h").password == "a@b")
        #expect(try parse("amqp://u:a@b@h").host == "h")
        #expect(kind("amqp://:hunter2@h/q") == .missingUserName)
        #expect(kind("amqp://@h/q") == .missingUserName)
    }

    @Test("amqps means TLS, verified; amqp means none; the path is the virtual host")
    func schemes() throws {
        let secure = try AMQPConnectionOptions(url: "amqps://u:p@broker.example.com/vh")
        guard case .enabled(let tls) = secure.tls else {
            Issue.record("amqps without TLS")
            return
        }
        #expect(tls.certificateVerification == .fullVerification)
        #expect(secure.port == 5671 && secure.virtualHost == "vh")
        #expect(secure.transportSecurity == .encrypted)
        let plain = try AMQPConnectionOptions(url: "amqp://broker.example.com")
        guard case .disabled = plain.tls else {
            Issue.record("amqp with TLS")
            return
        }
        #expect(plain.virtualHost == nil && plain.transportSecurity == .none)
        // RabbitMQ's default virtual host, `/`, percent-encoded.
        #expect(try AMQPConnectionOptions(url: "amqp://h/%2F").virtualHost == "/")
    }

    @Test("bad input is a typed error naming the part, never the password")
    func badInput() throws {
        #expect(kind("http://u:hunter2@h/q") == .unsupportedScheme)
        #expect(kind("u:hunter2@h/q") == .unsupportedScheme)
        #expect(kind("") == .unsupportedScheme)
        #expect(kind("amqp://") == .missingHost)
        #expect(kind("amqp:///q") == .missingHost)
        #expect(kind("amqp://u:hunter2@") == .missingHost)
        #expect(kind("amqp://u:hunter2@:5672/q") == .missingHost)
        #expect(kind("amqp://u:hunter2@h/q?x=1") == .unsupportedComponent)
        #expect(kind("amqp://u:hunter2@h/q#frag") == .unsupportedComponent)
        #expect(kind("amqp://u:hunter2%zz@h/q") == .invalidPercentEncoding)
        #expect(kind("amqp://u:hunter2%4@h/q") == .invalidPercentEncoding)
        #expect(kind("amqp://u:hunter2%FF@h/q") == .invalidPercentEncoding)
        #expect(kind("amqp://h%20h/q") == .invalidHost)
        do {
            _ = try AMQPEndpoint(parsing: "amqp://u:hunter2@h:99999/q")
        } catch {
            #expect(error.part == "port")
            #expect(error.url == "amqp://u:***@h:99999/q")
            #expect("\(error)" == "not a valid AMQP URL (port: a port is a number from 1 to 65535): amqp://u:***@h:99999/q")
        }
        // Through the connection options: an invalid-argument client error with the endpoint error beneath.
        do {
            _ = try AMQPConnectionOptions(url: "amqp://u:hunter2@h:0")
            Issue.record("accepted port 0")
        } catch let error as AMQPClientError {
            #expect(error.kind == .invalidArgument)
            #expect((error.underlying as? AMQPEndpointError)?.kind == .invalidPort)
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test("redaction: descriptions and raw text never show the password, even when it holds / ? # or @")
    func redaction() throws {
        #expect("\(try parse("amqp://user:hunter2@localhost:5672/q"))" == "amqp://user:***@localhost:5672/q")
        #expect("\(try parse("amqp://us%40er@h"))" == "amqp://us%40er@h:5672")
        #expect("\(try parse("amqp://h//queue/orders eu"))" == "amqp://h:5672//queue/orders%20eu")
        #expect(AMQPEndpoint.redacted("amqp://user:hun/ter?2#@h/q") == "amqp://user:***@h/q")
        #expect(AMQPEndpoint.redacted("amqp://user@h/q") == "amqp://user@h/q")
        #expect(AMQPEndpoint.redacted("not a url") == "not a url")
        #expect(AMQPEndpoint.redacted("u:hunter2@h/q") == "u:***@h/q")
        // A description parses back to the same endpoint when it has no password.
        for text in ["amqp://h", "amqps://u@[::1]:99/a/b", "amqp://u%3Ax@h/%2F"] {
            let endpoint = try parse(text)
            #expect(try parse(endpoint.description) == endpoint, "\(text)")
        }
    }

    @Test("loopback: localhost, 127.0.0.0/8, ::1 and IPv4-mapped loopback; nothing else")
    func loopback() {
        for host in ["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"] {
            #expect(AMQPEndpoint.isLoopback(host), "\(host)")
        }
        for host in ["example.com", "localhost.example.com", "128.0.0.1", "10.0.0.1", "::2", "::ffff:10.0.0.1", "", "127.0.0.1.example.com"] {
            #expect(!AMQPEndpoint.isLoopback(host), "\(host)")
        }
    }
}

@Suite("Cleartext credentials: one rule, decided from whether the transport is encrypted", .timeLimit(.minutes(2)))
struct CleartextTransportTests {
    @Test("what the transport says it has: direct TLS (and a stream layer inside it) is encrypted; in-band TLS only after its handshake")
    func transportSecurity() throws {
        let tls = AMQPConnectionOptions.TLS.enabled(.makeClientConfiguration())
        #expect(AMQPConnectionOptions(host: "example.com", tls: tls).transportSecurity == .encrypted)
        #expect(AMQPConnectionOptions(host: "127.0.0.1", tls: tls).transportSecurity == .encrypted)
        #expect(AMQPConnectionOptions(host: "example.com").transportSecurity == .none)
        #expect(AMQPConnectionOptions(host: "localhost").transportSecurity == .loopback)
        // In-band TLS starts in the clear; the engine counts it once the handshake is done.
        #expect(AMQPConnectionOptions(host: "example.com", tls: .inBand(.makeClientConfiguration())).transportSecurity == .none)
        var options = AMQPConnectionOptions(host: "localhost", authentication: .plain(username: "u", password: "p"))
        options.cleartextCredentials = .allowedOnLoopback
        let configuration = options.engineConfiguration()
        #expect(configuration.transportSecurity == .loopback && configuration.cleartextCredentials == .allowedOnLoopback)
        // The Boolean form is the policy's `allowed`.
        options.allowsCleartextCredentials = true
        #expect(options.cleartextCredentials == .allowed)
        options.allowsCleartextCredentials = false
        #expect(options.cleartextCredentials == .refused)
    }

    static func broker() async throws -> AMQPInMemoryBroker {
        var configuration = AMQPListener.Configuration()
        configuration.saslMechanisms = [PlainServerMechanism { $0 == "user" && $1 == "secret" }]
        configuration.saslRequired = true
        return try await AMQPInMemoryBroker.start(configuration)
    }

    /// The SASL error a connect fails with, if it fails for SASL.
    static func saslFailure(_ options: AMQPConnectionOptions) async -> SASLError? {
        do {
            let connection = try await AMQPConnection.connect(options)
            try? await connection.close()
            return nil
        } catch let error as AMQPClientError {
            #expect(!"\(error)".contains("secret"))
            if case .sasl(let sasl)? = error.underlying as? ConnectionFailure { return sasl }
            Issue.record("not a SASL failure: \(error)")
            return nil
        } catch {
            Issue.record("not an AMQPClientError: \(error)")
            return nil
        }
    }

    @Test("PLAIN to a loopback broker: refused by default, sent when allowed on loopback or everywhere")
    func loopbackPolicy() async throws {
        let broker = try await Self.broker()
        var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port, authentication: .plain(username: "user", password: "secret"))
        #expect(await Self.saslFailure(options)?.kind == .plaintextRefused)
        options.cleartextCredentials = .allowedOnLoopback
        #expect(await Self.saslFailure(options) == nil)
        options.cleartextCredentials = .allowed
        #expect(await Self.saslFailure(options) == nil)
        try await broker.stop()
    }

    @Test("amqp://[::1] reaches a broker listening on ::1: the brackets are not passed to the socket")
    func ipv6Connection() async throws {
        var configuration = AMQPListener.Configuration(host: "::1")
        configuration.saslMechanisms = [PlainServerMechanism { $0 == "user" && $1 == "s%41" }]
        configuration.saslRequired = true
        let broker = try await AMQPInMemoryBroker.start(configuration)
        // The password `s%41`, percent-encoded once in the URL.
        var options = try AMQPConnectionOptions(url: "amqp://user:s%2541@[::1]:\(broker.port)")
        #expect(options.transportSecurity == .loopback)
        options.cleartextCredentials = .allowedOnLoopback
        let connection = try await AMQPConnection.connect(options)
        let sender = try await connection.openSender(to: "ipv6")
        #expect(try await sender.send(Message(body: .value(AMQPValueSection(.string("over ::1"))))) == .accepted)
        try await connection.close()
        try await broker.stop()
    }
}
