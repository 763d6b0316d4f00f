import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestSupport
import AMQPTransport
import Foundation
import NIOSSL
import Testing

@Suite("TLS", .serialized, .timeLimit(.minutes(2)))
struct TLSTests {
    /// A self-signed certificate for localhost, made with openssl for this test.
    static func certificate() async throws -> (directory: URL, certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eh-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let result = try await Subprocess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ])
        guard result.status == 0 else { throw TimedOut(description: "openssl failed: \(result.standardError)") }
        return (directory, certificate, key)
    }

    @Test("an Azure-style endpoint is TLS, verified: a private CA works when trusted, and is refused by default")
    func verifiedTLS() async throws {
        let (directory, certificate, key) = try await Self.certificate()
        defer { try? FileManager.default.removeItem(at: directory) }
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let fixture = try await EmulatorFixture.start(configure: {
            $0.tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try! NIOSSLPrivateKey(file: key, format: .pem)))
        })
        // No UseDevelopmentEmulator: TLS, as for Azure; the namespace is localhost, reached at the emulator's port.
        let cs = "Endpoint=sb://localhost/;SharedAccessKeyName=\(EmulatorConfiguration.defaultKeyName);SharedAccessKey=\(EmulatorConfiguration.defaultKey);EntityPath=eh1"

        var trusting = EventHubsClientOptions.fastRetries
        trusting.customEndpoint = ("127.0.0.1", fixture.port)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(certificate)
        trusting.tlsConfiguration = .enabled(configuration)
        let client = try EventHubsClient(connectionString: cs, options: trusting)
        try await client.makeProducer().send(EventData("over TLS"), options: .partition("0"))
        #expect(try await take(1, from: client.makePartitionReceiver(partitionID: "0", startingAt: .earliest)).first?.text == "over TLS")
        await client.close()

        var defaults = EventHubsClientOptions.fastRetries
        defaults.customEndpoint = ("127.0.0.1", fixture.port)
        defaults.retry.maxRetries = 0
        let refusing = try EventHubsClient(connectionString: cs, options: defaults)
        let error = await eventHubsError { try await refusing.makeProducer().send(EventData("x")) }
        #expect(error?.kind == .connection)
        #expect(fixture.emulator.eventCount(hub: "eh1", partition: 0) == 1)
        await refusing.close()
        try await fixture.stop()
    }
}
