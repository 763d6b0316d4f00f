import AMQPBlobStorage
import AMQPCodec
import AMQPEventHubsProtocol
import AMQPProtocol
import AMQPTransport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A local Azure Event Hubs endpoint: hubs, partitions and consumer groups from a
/// configuration, SASL PLAIN with SAS keys or ANONYMOUS plus CBS tokens, `$management` reads,
/// producers (single events and batches), partition consumers with selector filters and owner
/// levels, optional persistence that survives `kill -9`, and `GET /health`.
///
/// Embed it in tests: `let emulator = try await EventHubsEmulator.start(.init(port: 0))`, read
/// ``port`` and ``connectionString(eventHub:host:)``, and ``stop()`` at the end.
public final class EventHubsEmulator: Sendable {
    /// The configuration the emulator was started with.
    public let configuration: EmulatorConfiguration
    let listener: AMQPListener
    let store: EventHubsStore
    let healthChannel: Channel?
    let blob: (channel: Channel, thread: NIOThreadPool, connections: OpenConnections)?

    /// The AMQP port.
    public var port: Int { listener.port }
    /// The health port, if one is served.
    public var healthPort: Int? { healthChannel?.localAddress?.port }
    /// The Blob endpoint's port, if one is served.
    public var blobPort: Int? { blob?.channel.localAddress?.port }

    init(configuration: EmulatorConfiguration, listener: AMQPListener, store: EventHubsStore, healthChannel: Channel?,
         blob: (channel: Channel, thread: NIOThreadPool, connections: OpenConnections)?) {
        self.configuration = configuration
        self.listener = listener
        self.store = store
        self.healthChannel = healthChannel
        self.blob = blob
    }

    /// What the emulator's listener offers each connection.
    static func listenerConfiguration(_ configuration: EmulatorConfiguration, logger: Logger) -> AMQPListener.Configuration {
        let keys = configuration.keys
        var listenerConfiguration = AMQPListener.Configuration(
            host: configuration.host, port: configuration.port, tls: configuration.tls,
            // ANONYMOUS then CBS is what Microsoft's SDKs do; PLAIN with a SAS key name and key is
            // the path most other clients take. Both are offered.
            saslMechanisms: [AnonymousMechanism(), PlainServerMechanism { name, key in keys[name] == key }],
            saslRequired: false, containerID: configuration.containerID)
        listenerConfiguration.maxMessageSize = configuration.maxMessageSize * 4 + 65536
        listenerConfiguration.encodingPolicy = .full
        listenerConfiguration.logger = logger
        listenerConfiguration.loginThrottle = configuration.loginThrottle
        return listenerConfiguration
    }

    /// Starts listening. Reads persisted partitions from the data directory first.
    public static func start(
        _ configuration: EmulatorConfiguration,
        eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "swift-amqp.emulator"),
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    ) async throws -> EventHubsEmulator {
        try configuration.validate()
        let store = try EventHubsStore(configuration: configuration, logger: logger)
        let listenerConfiguration = Self.listenerConfiguration(configuration, logger: logger)
        let listener = try await AMQPListener.bind(listenerConfiguration, eventLoopGroup: eventLoopGroup) {
            EmulatorConnection(store: store, clock: clock)
        }
        var health: Channel? = nil
        if let healthPort = configuration.healthPort {
            health = try await HealthEndpoint.bind(host: configuration.host, port: healthPort, group: eventLoopGroup) {
                store.damagedPartitions.map { HealthEndpoint.DamagedPartition(eventHub: $0.hub, partition: String($0.partition), file: $0.damage.file, byteOffset: $0.damage.byteOffset, reason: $0.damage.reason) }
            }
        }
        var blob: (channel: Channel, thread: NIOThreadPool, connections: OpenConnections)? = nil
        if let blobPort = configuration.blobPort {
            // One thread: requests are applied one at a time, and their fsyncs stay off the event loops.
            let thread = NIOThreadPool(numberOfThreads: 1)
            thread.start()
            let service = BlobService(dataDirectory: configuration.dataDirectory, acceptsBearerTokens: configuration.acceptsJWT, logger: logger)
            do {
                let connections = OpenConnections()
                let channel = try await BlobEndpoint.bind(host: configuration.host, port: blobPort, service: service, thread: thread,
                                                          connections: connections, group: eventLoopGroup)
                blob = (channel, thread, connections)
            } catch {
                try? await thread.shutdownGracefully()
                try? await health?.close()
                try? await listener.close()
                throw error
            }
        }
        return EventHubsEmulator(configuration: configuration, listener: listener, store: store, healthChannel: health, blob: blob)
    }

    /// What ``repair(_:)`` cut from one partition.
    public struct RepairReport: Sendable, CustomStringConvertible {
        /// The event hub.
        public var eventHub: String
        /// The partition of ``eventHub``.
        public var partition: Int
        /// What was done and dropped, in words: the file and byte offset of the damage, the
        /// bytes and segment files removed, the readable events among them, and the sequence
        /// number and offset new events start at.
        public var summary: String
        /// Bytes removed from the log.
        public var droppedBytes: Int64
        /// Events that were still readable in the dropped bytes.
        public var droppedReadableEvents: Int
        /// The sequence number new events get next: past everything dropped, never reused.
        public var nextSequenceNumber: Int64

        /// `HUB/PARTITION: summary`.
        public var description: String { "\(eventHub)/\(partition): \(summary)" }
    }

    /// Cuts every damaged partition log under the configuration's data directory at its first
    /// bad record, removing what follows, and reports what was dropped. Every partition folder
    /// found there is checked, whether or not the configuration still names its hub. Run it with
    /// the emulator stopped; partitions whose logs are whole are left alone.
    public static func repair(_ configuration: EmulatorConfiguration) throws -> [RepairReport] {
        guard let root = configuration.dataDirectory else { throw EmulatorConfiguration.Invalid(message: "repair needs a data directory") }
        let files = FileManager.default
        var reports: [RepairReport] = []
        // Hidden folders are not hubs (the Blob endpoint keeps its containers in `.blobs`).
        for hubFolder in try files.contentsOfDirectory(atPath: root).sorted() where !hubFolder.hasPrefix(".") {
            var isFolder: ObjCBool = false
            guard files.fileExists(atPath: "\(root)/\(hubFolder)", isDirectory: &isFolder), isFolder.boolValue else { continue }
            let hubName = configuration.hub(named: hubFolder)?.name ?? hubFolder
            let partitions = try files.contentsOfDirectory(atPath: "\(root)/\(hubFolder)").compactMap { Int($0) }.sorted()
            for id in partitions {
                guard let report = try SegmentStorage.repair(directory: "\(root)/\(hubFolder)/\(id)") else { continue }
                reports.append(RepairReport(eventHub: hubName, partition: id, summary: report.description, droppedBytes: report.droppedBytes,
                                            droppedReadableEvents: report.readableDroppedEvents, nextSequenceNumber: report.resume.sequenceNumber))
            }
        }
        return reports
    }

    /// A connection string for this emulator, in Microsoft's emulator's form: its SAS key,
    /// plain TCP, and the port in the endpoint.
    public func connectionString(eventHub: String? = nil, host: String = "localhost") -> EventHubsConnectionString {
        let (name, key) = configuration.keys.sorted { $0.key < $1.key }.first { $0.key == EmulatorConfiguration.defaultKeyName }
            ?? configuration.keys.sorted { $0.key < $1.key }.first!
        return EventHubsConnectionString(host: host, port: port, eventHubName: eventHub, sharedAccessKeyName: name,
                                         sharedAccessKey: key, usesDevelopmentEmulator: true)
    }

    /// Stops accepting connections, drops the open ones (their clients see the connection lost,
    /// as when a server goes away) and closes the partition files.
    public func stop() async throws {
        try await listener.close()
        await listener.closeConnections()
        try await healthChannel?.close()
        if let blob {
            try? await blob.channel.close()
            await blob.connections.closeAll()
            try? await blob.thread.shutdownGracefully()
        }
        store.close()
    }

    /// The development storage account on the Blob endpoint (`devstoreaccount1` with Azurite's
    /// published key, path style), for Microsoft's storage clients and `StorageConnectionString`
    /// users; `nil` without a Blob port.
    public func blobConnectionString(host: String = "127.0.0.1") -> StorageConnectionString? {
        blobPort.map { StorageConnectionString.development(host: host, port: $0) }
    }

    /// How many client connections are open now.
    public var connectionCount: Int { listener.connectionCount }

    /// How many events a partition holds now.
    public func eventCount(hub: String, partition: Int) -> Int {
        store.partition(hub: hub, id: partition)?.count ?? 0
    }
}

/// `GET /health` → `200 OK` with `{"status":"Healthy"}`, or `503` with `{"status":"Degraded"}`
/// and the partitions refused because their logs are damaged (file, byte offset, reason);
/// anything else → 404.
enum HealthEndpoint {
    struct DamagedPartition: Codable, Sendable {
        var eventHub: String
        var partition: String
        var file: String
        var byteOffset: Int64
        var reason: String
    }

    struct Status: Codable {
        var status: String
        var damagedPartitions: [DamagedPartition]?
    }

    static func bind(host: String, port: Int, group: EventLoopGroup,
                     damaged: @escaping @Sendable () -> [DamagedPartition]) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HealthHandler(damaged: damaged))
                }
            }
            .bind(host: host, port: port).get()
    }

    final class HealthHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let damaged: @Sendable () -> [DamagedPartition]

        init(damaged: @escaping @Sendable () -> [DamagedPartition]) {
            self.damaged = damaged
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let request) = unwrapInboundIn(data) else { return }
            let found = request.method == .GET && request.uri.split(separator: "?").first == "/health"
            let status: HTTPResponseStatus
            let body: String
            if found {
                let damage = damaged()
                if damage.isEmpty {
                    status = .ok
                    body = #"{"status":"Healthy"}"#
                } else {
                    status = .serviceUnavailable
                    let encoded = try? JSONEncoder().encode(Status(status: "Degraded", damagedPartitions: damage))
                    body = encoded.map { String(decoding: $0, as: UTF8.self) } ?? #"{"status":"Degraded"}"#
                }
            } else {
                status = .notFound
                body = #"{"status":"NotFound"}"#
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

/// The emulator without its listener: the application of each connection and the store they
/// share, for a harness that serves connections on channels of its own (the `fuzz-emulator`
/// target writes a client's bytes into an `EmbeddedChannel`).
package struct EmulatorConnections: Sendable {
    let store: EventHubsStore
    let clock: @Sendable () -> Int64
    /// What each connection is served with (``AMQPListener/serve(_:configuration:delegate:)``).
    package let listenerConfiguration: AMQPListener.Configuration

    /// A memory-only store per `configuration` (its data directory is ignored).
    package init(_ configuration: EmulatorConfiguration, clock: @escaping @Sendable () -> Int64, logger: Logger) throws {
        var configuration = configuration
        configuration.dataDirectory = nil
        try configuration.validate()
        store = try EventHubsStore(configuration: configuration, logger: logger)
        self.clock = clock
        listenerConfiguration = EventHubsEmulator.listenerConfiguration(configuration, logger: logger)
    }

    /// The application of one new connection.
    package func makeDelegate() -> any AMQPServerConnectionDelegate {
        EmulatorConnection(store: store, clock: clock)
    }

    /// Receivers admitted and log listeners registered: none once every connection is gone.
    package var registrations: Int { store.registrations }
}
