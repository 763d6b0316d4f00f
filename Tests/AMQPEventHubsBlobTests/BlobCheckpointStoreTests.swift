import AMQPBlobStorage
import AMQPEventHubs
@testable import AMQPEventHubsBlobCheckpointStore
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@Suite("Blob checkpoint store", .serialized, .timeLimit(.minutes(5)))
struct BlobCheckpointStoreTests {
    static let ns = "localhost", hub = "eh1", group = "$Default"

    func ownership(_ partition: String, _ owner: String, etag: String? = nil) -> PartitionOwnership {
        PartitionOwnership(fullyQualifiedNamespace: Self.ns, eventHubName: Self.hub, consumerGroup: Self.group, partitionID: partition,
                           ownerID: owner, etag: etag)
    }

    @Test("claims are conditional: a first claim wins once, a stale ETag loses, and losing is not an error")
    func claims() async throws {
        try await withBlobEmulator { fixture in
            let store = try fixture.store()
            try await store.createContainerIfNotExists()
            let before = Date()
            let won = try await store.claimOwnership([ownership("0", "a"), ownership("1", "a")])
            #expect(won.map(\.partitionID).sorted() == ["0", "1"])
            let etag = try #require(won.first { $0.partitionID == "0" }?.etag)
            #expect(try await store.claimOwnership([ownership("0", "b")]).isEmpty, "a first claim of a partition that has a record")
            let stolen = try await store.claimOwnership([ownership("0", "b", etag: etag)])
            #expect(stolen.first?.ownerID == "b" && stolen.first?.etag != etag)
            #expect(try await store.claimOwnership([ownership("0", "a", etag: etag)]).isEmpty, "a's ETag is stale now")
            let listed = try await store.listOwnership(fullyQualifiedNamespace: Self.ns, eventHubName: Self.hub, consumerGroup: Self.group)
            #expect(Dictionary(uniqueKeysWithValues: listed.map { ($0.partitionID, $0.ownerID) }) == ["0": "b", "1": "a"])
            // Last-Modified is the claim's time (in whole seconds, as the service keeps it).
            let after = Date()
            #expect(listed.allSatisfy { $0.lastModified >= before.addingTimeInterval(-1) && $0.lastModified <= after.addingTimeInterval(1) })
            // Mixed: one claim that wins and one that loses, in one call.
            let mixed = try await store.claimOwnership([ownership("1", "c", etag: listed.first { $0.partitionID == "1" }!.etag), ownership("0", "c", etag: etag)])
            #expect(mixed.map(\.partitionID) == ["1"])
        }
    }

    @Test("the layout is the SDKs': Python's BlobCheckpointStore reads our records and we read its")
    func interoperatesWithPythonStore() async throws {
        try await withBlobEmulator { fixture in
            let store = try fixture.store()
            try await store.createContainerIfNotExists()
            // Mixed case: both sides lower-case the names.
            let python = try await BlobSDK.run(["store-write", fixture.storage.text, "checkpoints", "LocalHost", "EH1", "$Default"])
            #expect(python["claimed"] as? [String] == ["0", "1"])
            let records = try await store.listOwnership(fullyQualifiedNamespace: "localhost", eventHubName: "eh1", consumerGroup: "$default")
            #expect(records.map(\.ownerID) == ["python", "python"])
            let checkpoints = try await store.listCheckpoints(fullyQualifiedNamespace: "localhost", eventHubName: "eh1", consumerGroup: "$default")
            #expect(checkpoints.map { "\($0.partitionID):\($0.offset ?? "-"):\($0.sequenceNumber ?? -1)" } == ["0:42:7"])

            // Ours, read by Python: a takeover of partition 1 with Python's ETag, a checkpoint of partition 2.
            let record = try #require(records.first { $0.partitionID == "1" })
            var takeover = record
            takeover.ownerID = "swift"
            #expect(try await store.claimOwnership([takeover]).count == 1)
            #expect(try await store.claimOwnership([ownership("2", "swift")]).count == 1)
            try await store.updateCheckpoint(Checkpoint(fullyQualifiedNamespace: "localhost", eventHubName: "eh1", consumerGroup: "$Default",
                                                        partitionID: "2", offset: "512", sequenceNumber: 31))
            let read = try await BlobSDK.run(["store-read", fixture.storage.text, "checkpoints", "localhost", "eh1", "$Default"])
            let owners = (read["ownership"] as? [String: [String: Any]])?.mapValues { $0["owner_id"] as? String }
            #expect(owners == ["0": "python", "1": "swift", "2": "swift"])
            let pythonCheckpoints = read["checkpoints"] as? [String: [String: Any]]
            #expect(pythonCheckpoints?["2"]?["offset"] as? String == "512")
            #expect(pythonCheckpoints?["2"]?["sequence_number"] as? Int == 31)
        }
    }

    @Test("a checkpoint blob with garbage metadata is logged and treated as no checkpoint")
    func garbageCheckpoint() async throws {
        try await withBlobEmulator { fixture in
            let store = try fixture.store()
            try await store.createContainerIfNotExists()
            let prefix = "localhost/eh1/$default/checkpoint/"
            for (partition, metadata) in [("0", [("x-ms-meta-offset", "abc"), ("x-ms-meta-sequencenumber", "1")]),
                                          ("1", [("x-ms-meta-sequencenumber", "-5")]),
                                          ("2", [("x-ms-meta-other", "x")]),
                                          ("3", [("x-ms-meta-offset", "7"), ("x-ms-meta-sequencenumber", "3")])] {
                let headers = metadata.map { (name: $0.0, value: $0.1) } + [(name: "x-ms-blob-type", value: "BlockBlob")]
                let response = try await store.container.send(.PUT, blob: prefix + partition, query: [], headers: headers, operation: "seed")
                #expect(response.status == 201)
            }
            let checkpoints = try await store.listCheckpoints(fullyQualifiedNamespace: "localhost", eventHubName: "eh1", consumerGroup: "$Default")
            #expect(checkpoints.map(\.partitionID) == ["3"])
            #expect(checkpoints.first?.offset == "7" && checkpoints.first?.sequenceNumber == 3)
        }
    }

    @Test("SAS and token credentials work; without a credential or with a bearer token over plain HTTP to another host, the store refuses to start")
    func credentials() async throws {
        try await withBlobEmulator(configure: { $0.acceptsJWT = true }) { fixture in
            let keyed = try fixture.store()
            try await keyed.createContainerIfNotExists()
            let key = try BlobSharedKey(accountName: StorageConnectionString.developmentAccountName, base64Key: StorageConnectionString.developmentAccountKey)
            let sas = BlobServiceSAS(container: "checkpoints", permissions: "rwl", expiry: Date().addingTimeInterval(600),
                                     account: StorageConnectionString.developmentAccountName, key: key)
            let url = fixture.storage.blobEndpoint.appendingPathComponent("checkpoints")
            let sasStore = try BlobCheckpointStore(containerURL: url, credential: .sharedAccessSignature(sas.token), options: .init(retry: .fastForTests))
            #expect(try await sasStore.claimOwnership([ownership("0", "sas")]).count == 1)
            let inURL = try BlobCheckpointStore(containerURL: URL(string: url.absoluteString + "?" + sas.token)!, credential: nil,
                                                options: .init(retry: .fastForTests))
            #expect(try await inURL.listOwnership(fullyQualifiedNamespace: Self.ns, eventHubName: Self.hub, consumerGroup: Self.group).count == 1)
            let tokens = StaticTokens()
            let tokenStore = try BlobCheckpointStore(containerURL: url, credential: .tokenProvider(tokens), options: .init(retry: .fastForTests))
            #expect(try await tokenStore.listOwnership(fullyQualifiedNamespace: Self.ns, eventHubName: Self.hub, consumerGroup: Self.group).count == 1)
            #expect(tokens.audiences == ["https://storage.azure.com/.default"], "asked once, for the storage scope; then cached")
            #expect(throws: BlobStorageError.self) { try BlobCheckpointStore(containerURL: url, credential: nil) }
            #expect(throws: BlobStorageError.self) {
                try BlobCheckpointStore(containerURL: URL(string: "http://storage.example.com/acct/c")!, credential: .tokenProvider(tokens))
            }
        }
    }

    @Test("5xx answers and timeouts are retried with the store's options, then thrown; a processor skips that round and keeps going")
    func failingEndpoint() async throws {
        let server = try await FlakyHTTPServer.start()
        defer { Task { try? await server.stop() } }
        let url = URL(string: "http://127.0.0.1:\(server.port)/devstoreaccount1/checkpoints")!
        func makeStore(tryTimeout: Duration) throws -> BlobCheckpointStore {
            let retry = EventHubsRetryOptions(maxRetries: 2, delay: .milliseconds(10), maxDelay: .milliseconds(50), jitter: 0, tryTimeout: tryTimeout)
            return try BlobCheckpointStore(containerURL: url, credential: .sharedKey(accountName: "devstoreaccount1",
                                                                                     accountKey: StorageConnectionString.developmentAccountKey),
                                           options: .init(retry: retry))
        }
        // Generous where the server answers (a loaded machine must not turn a 503 into a timeout),
        // short where it never does.
        let store = try makeStore(tryTimeout: .seconds(10))
        let hanging = try makeStore(tryTimeout: .milliseconds(500))
        server.mode.withLockedValue { $0 = .status(503) }
        let error = await #expect(throws: BlobStorageError.self) {
            try await store.listOwnership(fullyQualifiedNamespace: Self.ns, eventHubName: Self.hub, consumerGroup: Self.group)
        }
        #expect(error?.status == 503)
        #expect(server.requests.withLockedValue { $0 } == 3, "the first attempt and two retries")

        server.requests.withLockedValue { $0 = 0 }
        server.mode.withLockedValue { $0 = .silent }
        let started = ContinuousClock.now
        let timeout = await #expect(throws: BlobStorageError.self) {
            try await hanging.claimOwnership([ownership("0", "a")])
        }
        #expect(timeout?.status == nil, "no answer: \(String(describing: timeout))")
        #expect(server.requests.withLockedValue { $0 } == 3)
        #expect(ContinuousClock.now - started < .seconds(10), "three bounded attempts")

        server.mode.withLockedValue { $0 = .status(404) }
        let notFound = await #expect(throws: BlobStorageError.self) {
            try await store.listCheckpoints(fullyQualifiedNamespace: Self.ns, eventHubName: Self.hub, consumerGroup: Self.group)
        }
        #expect(notFound?.status == 404 && server.requests.withLockedValue { $0 } == 4, "a 404 is not retried")

        // A processor on that store: rounds fail, are reported and skipped; it never crashes, and stops cleanly.
        server.mode.withLockedValue { $0 = .status(500) }
        try await withBlobEmulator { fixture in
            let client = try fixture.client()
            let failures = NIOLockedValueBox(0)
            let processor = EventProcessor(client: client, checkpointStore: store,
                                           options: .init(loadBalancingInterval: .milliseconds(100), ownershipExpiration: .seconds(2)),
                                           processError: { failure in
                                               if failure.partitionID == nil && failure.error is BlobStorageError { failures.withLockedValue { $0 += 1 } }
                                           }) { _, _ in }
            let run = Task { try await processor.run() }
            try await eventually("three rounds skipped") { failures.withLockedValue { $0 } >= 3 }
            #expect(processor.ownedPartitionIDs.isEmpty)
            processor.stop()
            try await run.value
            await client.close()
        }
    }
}

/// Tokens for any audience, recording what was asked.
final class StaticTokens: EventHubsTokenProvider {
    private let asked = NIOLockedValueBox<[String]>([])
    var audiences: [String] { asked.withLockedValue { $0 } }
    func token(forAudience audience: String) async throws -> EventHubsAccessToken {
        asked.withLockedValue { $0.append(audience) }
        return EventHubsAccessToken(token: "test-token", type: .jsonWebToken, expiresOn: Date().addingTimeInterval(3600))
    }
}

/// An HTTP server that answers every request with one status, or never answers: a Blob endpoint
/// that is down or hanging.
final class FlakyHTTPServer: Sendable {
    enum Mode: Sendable { case status(Int), silent }
    let mode = NIOLockedValueBox(Mode.status(503))
    let requests = NIOLockedValueBox(0)
    private let channel: NIOLockedValueBox<Channel?> = NIOLockedValueBox(nil)
    var port: Int { channel.withLockedValue { $0?.localAddress?.port ?? 0 } }

    static func start() async throws -> FlakyHTTPServer {
        let server = FlakyHTTPServer()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: server))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        server.channel.withLockedValue { $0 = channel }
        return server
    }

    func stop() async throws { try await channel.withLockedValue { $0 }?.close() }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: FlakyHTTPServer
        init(server: FlakyHTTPServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            server.requests.withLockedValue { $0 += 1 }
            guard case .status(let code) = server.mode.withLockedValue({ $0 }) else { return }
            let headers = HTTPHeaders([("Content-Length", "0"), ("x-ms-error-code", code == 404 ? "ContainerNotFound" : "ServerBusy")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
