import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTestCertificates
import AMQPTestSupport
import AMQPTransport
import Foundation
import NIOSSL
import Testing

@Suite("TLS", .serialized, .timeLimit(.minutes(2)))
struct TLSTests {
    @Test("an Azure-style endpoint is TLS, verified: a private CA works when trusted, and is refused by default")
    func verifiedTLS() async throws {
        let made = try await TestCertificate.generate()
        let (certificate, key) = (made.certificatePath, made.keyPath)
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
