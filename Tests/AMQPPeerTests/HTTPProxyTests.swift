import AMQPCodec
import AMQPMessage
import AMQPTestCertificates
import AMQPTestSupport
import AMQPTransport
import Foundation
import NIOSSL
import Testing

extension RealPeers {
    /// Our client through a real HTTP proxy (Debian's tinyproxy, started by each test) with
    /// `CONNECT`: plain AMQP and TLS inside the tunnel, Basic credentials, and the proxy's refusals
    /// as errors that name it.
    @Suite("HTTP CONNECT proxy (tinyproxy)", .timeLimit(.minutes(2)))
    struct HTTPProxyTests {
        static func tinyproxy(credentials: AMQPHTTPProxy.Credentials? = nil) async throws -> (process: ExternalProcess, port: Int) {
            try await TinyProxy.start(username: credentials?.username, password: credentials?.password)
        }

        static func roundTrip(_ options: AMQPConnectionOptions, text: String) async throws {
            let connection = try await AMQPConnection.connect(options)
            let sender = try await connection.openSender(to: "proxied")
            #expect(try await sender.send(stringMessage(text)) == .accepted)
            let receiver = try await connection.openReceiver(from: "proxied")
            let delivery = try #require(try await receiver.receive())
            #expect(string(of: delivery.message) == text)
            try await delivery.accept()
            try await connection.close()
        }

        static func expectTunnelRefused(_ options: AMQPConnectionOptions, status: ClosedRange<Int>,
                                        sourceLocation: SourceLocation = #_sourceLocation) async {
            do {
                let connection = try await AMQPConnection.connect(options)
                Issue.record("connected", sourceLocation: sourceLocation)
                try? await connection.close()
            } catch let error as AMQPClientError {
                #expect(error.kind == .connectionFailed, sourceLocation: sourceLocation)
                let tunnel = error.underlying as? AMQPHTTPProxy.TunnelError
                #expect(tunnel?.status.map { status.contains($0) } == true, "\(error)", sourceLocation: sourceLocation)
                #expect("\(error)".contains("HTTP proxy 127.0.0.1:\(options.proxy!.port)"), "\(error)", sourceLocation: sourceLocation)
                if let password = options.proxy?.credentials?.password {
                    #expect(!"\(error)".contains(password), sourceLocation: sourceLocation)
                }
            } catch {
                Issue.record("not an AMQPClientError: \(error)", sourceLocation: sourceLocation)
            }
        }

        @Test("plain AMQP through the tunnel: the proxy opened it, the message went both ways")
        func plainThroughProxy() async throws {
            let (proxy, proxyPort) = try await Self.tinyproxy()
            defer { proxy.stop() }
            let broker = try await AMQPInMemoryBroker.start()
            var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
            options.proxy = AMQPHTTPProxy(host: "127.0.0.1", port: proxyPort)
            try await Self.roundTrip(options, text: "through tinyproxy")
            try await broker.stop()
            _ = try await proxy.waitForOutput("CONNECT 127.0.0.1:\(broker.port) HTTP/1.1")
        }

        @Test("TLS runs end to end inside the tunnel, verified against the broker's certificate")
        func tlsThroughProxy() async throws {
            let (proxy, proxyPort) = try await Self.tinyproxy()
            defer { proxy.stop() }
            let certificate = try await TestCertificate.generate()
            let broker = try await TLSTests.broker(certificate)
            var options = TLSTests.options(port: broker.port, tls: TLSTests.trusting(certificate), host: "localhost")
            options.proxy = AMQPHTTPProxy(host: "127.0.0.1", port: proxyPort)
            try await Self.roundTrip(options, text: "TLS through tinyproxy")
            try await broker.stop()
            _ = try await proxy.waitForOutput("CONNECT localhost:\(broker.port) HTTP/1.1")
        }

        @Test("Basic credentials: the right ones open the tunnel; none is 407, wrong ones are refused")
        func basicAuthentication() async throws {
            let credentials = AMQPHTTPProxy.Credentials(username: "tunnel", password: "pr0xy-secret")
            let (proxy, proxyPort) = try await Self.tinyproxy(credentials: credentials)
            defer { proxy.stop() }
            let broker = try await AMQPInMemoryBroker.start()
            var options = AMQPConnectionOptions(host: "127.0.0.1", port: broker.port)
            options.proxy = AMQPHTTPProxy(host: "127.0.0.1", port: proxyPort, credentials: credentials)
            try await Self.roundTrip(options, text: "authenticated tunnel")
            options.proxy?.credentials = nil
            await Self.expectTunnelRefused(options, status: 407...407)
            // tinyproxy answers wrong credentials with 401 where RFC 9110 says 407; either is a refusal.
            options.proxy?.credentials = .init(username: "tunnel", password: "wrong-password")
            await Self.expectTunnelRefused(options, status: 401...407)
            try await broker.stop()
        }

        @Test("a broker the proxy cannot reach is the proxy's 5xx, named, not a hang")
        func unreachableThroughProxy() async throws {
            let (proxy, proxyPort) = try await Self.tinyproxy()
            defer { proxy.stop() }
            var options = AMQPConnectionOptions(host: "127.0.0.1", port: try LocalPort.free())
            options.proxy = AMQPHTTPProxy(host: "127.0.0.1", port: proxyPort)
            await Self.expectTunnelRefused(options, status: 500...504)
        }

        @Test("through a proxy, PLAIN in the clear needs both hops on this machine")
        func cleartextPolicyCountsTheProxy() {
            var options = AMQPConnectionOptions(host: "127.0.0.1")
            options.proxy = AMQPHTTPProxy(host: "127.0.0.1", port: 3128)
            #expect(options.transportSecurity == .loopback)
            options.proxy = AMQPHTTPProxy(host: "proxy.example.com", port: 3128)
            #expect(options.transportSecurity == .none)
            options.tls = .verified
            #expect(options.transportSecurity == .encrypted)
        }
    }
}
