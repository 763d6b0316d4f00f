import AMQPCodec
import AMQPMessage
import AMQPProtocol
import AMQPTestCertificates
import AMQPTestSupport
import AMQPTransport
import AMQPTypes
import Foundation
import NIOSSL
import Testing

extension RealPeers {
    /// Our client against our listener over TLS, with a certificate made in-process for the test
    /// (valid for `localhost` and `127.0.0.1`).
    @Suite("TLS", .timeLimit(.minutes(2)))
    struct TLSTests {
        /// An in-memory broker on TLS (direct, or in-band after the TLS protocol header) that
        /// requires SASL PLAIN (user/secret).
        static func broker(_ certificate: TestCertificate, inBand: Bool = false) async throws -> AMQPInMemoryBroker {
            var configuration = AMQPListener.Configuration()
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate.certificatePath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: certificate.keyPath, format: .pem))
            )
            if inBand { configuration.inBandTLS = tls } else { configuration.tls = tls }
            configuration.saslMechanisms = [PlainServerMechanism { $0 == "user" && $1 == "secret" }]
            configuration.saslRequired = true
            return try await AMQPInMemoryBroker.start(configuration)
        }

        /// Client TLS that trusts only the test's certificate, verifying it fully.
        static func trusting(_ certificate: TestCertificate, inBand: Bool = false) -> AMQPConnectionOptions.TLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(certificate.certificatePath)
            return inBand ? .inBand(configuration) : .enabled(configuration)
        }

        static func options(port: Int, tls: AMQPConnectionOptions.TLS, host: String = "127.0.0.1") -> AMQPConnectionOptions {
            AMQPConnectionOptions(host: host, port: port, tls: tls, authentication: .plain(username: "user", password: "secret"))
        }

        /// Expects the connection to fail in the TLS handshake.
        static func expectRefused(_ options: AMQPConnectionOptions, sourceLocation: SourceLocation = #_sourceLocation) async {
            do {
                let connection = try await AMQPConnection.connect(options)
                Issue.record("connected", sourceLocation: sourceLocation)
                try? await connection.close()
            } catch let error as AMQPClientError {
                #expect(error.kind == .connectionFailed, "\(error)", sourceLocation: sourceLocation)
                #expect(error.underlying is NIOSSLError || error.underlying is NIOSSLExtraError, "\(error)", sourceLocation: sourceLocation)
                #expect(!"\(error)".contains("secret"), sourceLocation: sourceLocation)
            } catch {
                Issue.record("not an AMQPClientError: \(error)", sourceLocation: sourceLocation)
            }
        }

        @Test("PLAIN over verified TLS needs no cleartext opt-in; a message goes both ways")
        func verifiedConnection() async throws {
            let certificate = try await TestCertificate.generate()
            let broker = try await Self.broker(certificate)
            for (host, serverName) in [("127.0.0.1", nil), ("127.0.0.1", "localhost"), ("localhost", nil)] {
                var options = Self.options(port: broker.port, tls: Self.trusting(certificate), host: host)
                options.serverName = serverName
                #expect(options.allowsCleartextCredentials == false)
                let connection = try await AMQPConnection.connect(options)
                let sender = try await connection.openSender(to: "tls")
                #expect(try await sender.send(stringMessage("over TLS to \(host)")) == .accepted)
                let receiver = try await connection.openReceiver(from: "tls")
                let delivery = try #require(try await receiver.receive())
                #expect(string(of: delivery.message) == "over TLS to \(host)")
                try await delivery.accept()
                try await connection.close()
            }
            try await broker.stop()
        }

        @Test("verification is on by default: a certificate the system does not trust is refused")
        func untrustedRefusedByDefault() async throws {
            let certificate = try await TestCertificate.generate()
            let broker = try await Self.broker(certificate)
            await Self.expectRefused(Self.options(port: broker.port, tls: .verified))
            // The same through a URL: amqps:// verifies.
            await Self.expectRefused(try AMQPConnectionOptions(url: "amqps://user:secret@127.0.0.1:\(broker.port)"))
            try await broker.stop()
        }

        @Test("a certificate for another host name is refused")
        func wrongHostname() async throws {
            // Only DNS:localhost: NIOSSL also accepts a certificate naming the IP address it
            // connected to, whatever server name was asked for.
            let certificate = try await TestCertificate.generate(dnsNames: ["localhost"], ipAddresses: [])
            let broker = try await Self.broker(certificate)
            var options = Self.options(port: broker.port, tls: Self.trusting(certificate))
            options.serverName = "wrong.example.com"
            await Self.expectRefused(options)
            // Reached by an IP address the certificate does not name.
            await Self.expectRefused(Self.options(port: broker.port, tls: Self.trusting(certificate)))
            // The right name works.
            options.serverName = "localhost"
            let connection = try await AMQPConnection.connect(options)
            try await connection.close()
            // The refused handshakes leave no connection behind on the listener.
            let deadline = ContinuousClock.now + .seconds(10)
            while broker.listener.connectionCount > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(broker.listener.connectionCount == 0)
            try await broker.stop()
        }

        @Test("in-band TLS (AMQP 2 1 0 0, §5.2.1): verified, PLAIN inside it without an opt-in, messages both ways; other clients are turned away")
        func inBandTLS() async throws {
            // Only DNS:localhost, so that the wrong name below is refused (see wrongHostname).
            let certificate = try await TestCertificate.generate(dnsNames: ["localhost"], ipAddresses: [])
            let broker = try await Self.broker(certificate, inBand: true)
            var options = Self.options(port: broker.port, tls: Self.trusting(certificate, inBand: true))
            options.serverName = "localhost"
            #expect(options.allowsCleartextCredentials == false)
            #expect(options.port == broker.port)
            let connection = try await AMQPConnection.connect(options)
            let sender = try await connection.openSender(to: "in-band")
            #expect(try await sender.send(stringMessage("inside in-band TLS")) == .accepted)
            let receiver = try await connection.openReceiver(from: "in-band")
            let delivery = try #require(try await receiver.receive())
            #expect(string(of: delivery.message) == "inside in-band TLS")
            try await delivery.accept()
            try await connection.close()

            // Verification applies: a name the certificate does not carry is refused.
            var wrongName = Self.options(port: broker.port, tls: Self.trusting(certificate, inBand: true))
            wrongName.serverName = "wrong.example.com"
            await Self.expectRefused(wrongName)
            // The system's trust roots do not know the test's certificate.
            var system = TLSConfiguration.makeClientConfiguration()
            system.certificateVerification = .fullVerification
            await Self.expectRefused(Self.options(port: broker.port, tls: .inBand(system)))

            // The listener requires TLS: a client that starts with SASL in the clear gets the TLS
            // header back and no further, its password unsent.
            var clear = Self.options(port: broker.port, tls: .disabled)
            clear.allowsCleartextCredentials = true
            await #expect(throws: AMQPClientError.self) { try await AMQPConnection.connect(clear) }
            // A direct-TLS client gets no handshake from a plain port.
            await #expect(throws: AMQPClientError.self) {
                try await AMQPConnection.connect(Self.options(port: broker.port, tls: Self.trusting(certificate)))
            }

            let deadline = ContinuousClock.now + .seconds(10)
            while broker.listener.connectionCount > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(broker.listener.connectionCount == 0)
            try await broker.stop()
        }

        @Test("opting out of verification is explicit and then connects")
        func insecureOptOut() async throws {
            let certificate = try await TestCertificate.generate(commonName: "broker.example.com", dnsNames: ["broker.example.com"], ipAddresses: [])
            let broker = try await Self.broker(certificate)
            let connection = try await AMQPConnection.connect(Self.options(port: broker.port, tls: .insecureNoCertificateVerification))
            try await connection.close()
            try await broker.stop()
        }
    }
}
