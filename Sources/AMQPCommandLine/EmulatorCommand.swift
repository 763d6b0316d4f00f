import AMQPEventHubs
import AMQPEventHubsEmulator
import AMQPTransport
import ArgumentParser
import Foundation
import Logging
import NIOSSL
import ServiceLifecycle

/// `amqp emulator`: a local Event Hubs endpoint.
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run a local Azure Event Hubs endpoint (AMQP 1.0) until interrupted.",
        discussion: """
            Without --config: one event hub "eh1" with 4 partitions and consumer group $Default. The \
            SAS key name RootManageSharedAccessKey with key SAS_KEY_VALUE is accepted unless the \
            configuration names others, so Microsoft's emulator's connection strings work unchanged. \
            It serves plain TCP (the development-emulator convention: UseDevelopmentEmulator=true), \
            or direct TLS with --tls-cert and --tls-key. SASL PLAIN without TLS is accepted here on \
            purpose: this is a development endpoint, and it says so when it starts.
            """
    )

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The AMQP port (0 picks a free one).") var port = 5672
    @Option(help: "A JSON file shaped like Microsoft's emulator Config.json.") var config: String?
    @Option(name: .customLong("data-dir"), help: "Persist partitions in this folder (memory only without it).") var dataDirectory: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain for direct TLS.") var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for direct TLS.") var tlsKey: String?
    @Option(name: .customLong("health-port"), help: "Serve GET /health on this port (0 picks one).") var healthPort: Int = 5300
    @Option(name: .customLong("blob-port"), help: "Serve a Blob Storage endpoint for checkpoint stores on this port (0 picks one); account devstoreaccount1 with Azurite's key.")
    var blobPort: Int?
    @Option(name: .customLong("max-message-size"), help: "The largest event, in bytes.") var maxMessageSize: UInt64 = 1 << 20
    @Option(name: .customLong("retention-minutes"), help: "Drop events older than this.") var retentionMinutes: Int64 = 60
    @Option(name: .customLong("retention-mb"), help: "Keep at most this many MiB per partition.") var retentionMegabytes: Int64 = 1024
    @Option(help: "When a publish counts as written: always (fsync before accepting) or never (write only).") var fsync: EmulatorConfiguration.SyncPolicy = .always
    @Flag(name: .customLong("accept-jwt"), help: "Accept jwt tokens on $cbs without verifying them.") var acceptJWT = false
    @Option(name: .customLong("login-failures"), help: "Failed SASL logins from one address within a minute that refuse its connections for 5 minutes (0: no throttling).")
    var loginFailures = LoginThrottle.Policy().maxFailures
    @OptionGroup var log: LogOptions
    @Flag(help: "Cut every damaged partition log in --data-dir at its first bad record, report what was dropped, and exit (run it with the emulator stopped). Without it a damaged partition is refused, never cut.")
    var repair = false

    func makeConfiguration() throws -> EmulatorConfiguration {
        var configuration = EmulatorConfiguration(host: host, port: port)
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw ValidationError("cannot read \(config)") }
            try configuration.load(microsoftConfig: data)
        }
        configuration.dataDirectory = dataDirectory
        configuration.maxMessageSize = maxMessageSize
        configuration.retentionSeconds = retentionMinutes * 60
        configuration.retentionBytesPerPartition = retentionMegabytes << 20
        configuration.syncPolicy = fsync
        configuration.acceptsJWT = acceptJWT
        guard loginFailures >= 0 else { throw ValidationError("--login-failures cannot be negative") }
        configuration.loginThrottle = loginFailures > 0 ? LoginThrottle.Policy(maxFailures: loginFailures) : nil
        configuration.healthPort = healthPort
        configuration.blobPort = blobPort
        switch (tlsCertificate, tlsKey) {
        case (let certificate?, let key?):
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            configuration.tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        case (nil, nil):
            break
        default:
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        try configuration.validate()
        return configuration
    }

    func run() async throws {
        log.bootstrap()
        let configuration = try makeConfiguration()
        if repair {
            guard configuration.dataDirectory != nil else { throw ValidationError("--repair needs --data-dir") }
            let reports = try EventHubsEmulator.repair(configuration)
            if reports.isEmpty { print("nothing to repair: no partition log under \(configuration.dataDirectory!) is damaged") }
            for report in reports { print("repaired \(report)") }
            fflushStdout()
            return
        }
        let emulator = try await EventHubsEmulator.start(configuration, logger: Logger(label: "swift-amqp.emulator"))
        let scheme = configuration.tls == nil ? "amqp" : "amqps"
        print("Event Hubs emulator listening on \(scheme)://\(configuration.host):\(emulator.port)")
        for hub in configuration.hubs {
            print("  \(hub.name): \(hub.partitionCount) partitions, consumer groups \(hub.allConsumerGroups.joined(separator: ", "))")
        }
        if let health = emulator.healthPort { print("  health: http://\(configuration.host):\(health)/health") }
        print("  persistence: \(configuration.dataDirectory.map { "\($0) (fsync \(configuration.syncPolicy.rawValue))" } ?? "none (memory only)")")
        if let storage = emulator.blobConnectionString(host: configuration.host) {
            print("  blob: \(storage.blobEndpoint.absoluteString) (storage connection string below)")
        }
        if configuration.tls == nil {
            print("  note: plain TCP, and SASL PLAIN is accepted without TLS — a development endpoint, not for real secrets")
        }
        if configuration.tls == nil {
            print("Connection string:")
            print(emulator.connectionString(eventHub: configuration.hubs.first?.name).text)
        } else {
            // UseDevelopmentEmulator means plain TCP to the endpoint's port; over TLS a client
            // names the host as its namespace and connects to the port as a custom endpoint.
            var tlsConnectionString = emulator.connectionString(eventHub: configuration.hubs.first?.name)
            tlsConnectionString.usesDevelopmentEmulator = false
            tlsConnectionString.port = nil
            print("Connection string (TLS: connect to localhost:\(emulator.port) as a custom endpoint, trusting its certificate,")
            print("e.g. amqp eventhubs send --custom-endpoint localhost:\(emulator.port) --ca-file CERT --connection-string …):")
            print(tlsConnectionString.text)
        }
        if let storage = emulator.blobConnectionString(host: configuration.host) {
            print("Storage connection string:")
            print(storage.text)
        }
        fflushStdout()
        // SIGINT and SIGTERM trigger a graceful shutdown: the emulator stops, then run() returns.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: emulator)], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "swift-amqp.emulator")))
        try await group.run()
    }
}

extension EmulatorConfiguration.SyncPolicy: ExpressibleByArgument {}
