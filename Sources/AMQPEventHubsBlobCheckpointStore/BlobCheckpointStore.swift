import AMQPBlobStorage
import AMQPEventHubs
import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1

/// A `CheckpointStore` in Azure Blob Storage, in the layout Microsoft's SDKs share, so that
/// processors of this package, Python's `EventHubConsumerClient` with
/// `azure-eventhub-checkpointstoreblob`, Go's `azeventhubs.Processor` with `checkpoints.BlobStore`
/// and .NET's `EventProcessorClient` can share one consumer group and take over each other's
/// partitions from each other's checkpoints.
///
/// ```swift
/// let store = try BlobCheckpointStore(connectionString: storageConnectionString, containerName: "checkpoints")
/// let processor = EventProcessor(client: client, checkpointStore: store) { event, context in … }
/// ```
///
/// - One container, chosen by you; the store never creates it (``createContainerIfNotExists()``
///   does, when you ask).
/// - Ownership: `{namespace}/{hub}/{group}/ownership/{partition}`, empty, metadata `ownerid`. A claim
///   of a partition that has a record is `Set Blob Metadata` with `If-Match` its ETag; a first claim
///   is `Put Blob` with `If-None-Match: *`, as .NET's `BlobCheckpointStore` does (Python first tries
///   `Set Blob Metadata` with `If-None-Match: *`, which the service does not enforce on an existing
///   blob). A failed condition (412, or 409 for a blob that appeared meanwhile) means another
///   processor won the race: that partition is not claimed, and no error is thrown.
/// - Checkpoints: `…/checkpoint/{partition}`, metadata `offset` and `sequencenumber`. A checkpoint
///   blob whose metadata is not a position is logged and skipped: that partition starts from the
///   processor's default position.
/// - Names are lower-cased, as the SDKs write them. Requests send `x-ms-version: 2019-07-07`.
/// - Transient failures (no answer, a timeout, 408, 429, 5xx) are retried with
///   ``Options/retry``; then the operation throws ``BlobStorageError`` and an `EventProcessor`
///   skips that balancing round.
public final class BlobCheckpointStore: CheckpointStore {
    /// How requests are authorized.
    public enum Credential: Sendable, CustomStringConvertible {
        /// The account name and key (base64): each request is signed (`Authorization: SharedKey`).
        case sharedKey(accountName: String, accountKey: String)
        /// A SAS token (`sv=…&sig=…`) for the container (or account) with read, add, create, write
        /// and list permissions, appended to every request.
        case sharedAccessSignature(String)
        /// Microsoft Entra ID: bearer tokens for the scope `https://storage.azure.com/.default` from
        /// the provider (the same kind of provider `EventHubsCredential/tokenProvider(_:)` takes;
        /// it is asked for that scope as the audience). Sent only over HTTPS, or to a loopback host.
        case tokenProvider(any EventHubsTokenProvider)

        /// The kind of credential; never the key, signature or token.
        public var description: String {
            switch self {
            case .sharedKey(let account, _): return "shared key of \(account) (redacted)"
            case .sharedAccessSignature: return "shared access signature (redacted)"
            case .tokenProvider(let provider): return "token provider \(type(of: provider))"
            }
        }
    }

    /// Retries, logging and the HTTP client.
    public struct Options: Sendable {
        /// How transient failures are retried (Microsoft's defaults: 3 retries from 0.8 s);
        /// `EventHubsRetryOptions/tryTimeout` bounds each request.
        public var retry: EventHubsRetryOptions
        /// Where the store logs retries and unreadable checkpoints; never keys, signatures or tokens.
        public var logger: Logger
        /// The HTTP client to use; AsyncHTTPClient's process-wide `HTTPClient.shared` when `nil`.
        public var httpClient: HTTPClient?

        /// Microsoft's retry defaults with 30-second requests, on the shared HTTP client.
        public init(retry: EventHubsRetryOptions = EventHubsRetryOptions(tryTimeout: .seconds(30)),
                    logger: Logger = Logger(label: "swift-amqp.eventhubs.blob-checkpoint-store"), httpClient: HTTPClient? = nil) {
            self.retry = retry
            self.logger = logger
            self.httpClient = httpClient
        }
    }

    /// The container's URL (without any SAS).
    public let containerURL: URL
    let container: BlobContainerClient
    let logger: Logger

    /// A store in the container at `containerURL` (`https://ACCOUNT.blob.core.windows.net/NAME`, or
    /// a path-style `http://127.0.0.1:10000/devstoreaccount1/NAME`); a SAS in the URL's query is
    /// used when `credential` is `nil`.
    public init(containerURL: URL, credential: Credential?, options: Options = Options()) throws(BlobStorageError) {
        guard let scheme = containerURL.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = containerURL.host,
              containerURL.pathComponents.count >= 2
        else {
            throw BlobStorageError(status: nil, code: nil, detail: "the container URL must be http(s)://HOST/[ACCOUNT/]CONTAINER")
        }
        let hasSAS = (containerURL.query.map { $0.contains("sig=") }) ?? false
        let authorization: BlobContainerClient.Authorization
        switch credential {
        case .sharedKey(let account, let key)?:
            do {
                authorization = .sharedKey(try BlobSharedKey(accountName: account, base64Key: key))
            } catch {
                throw BlobStorageError(status: nil, code: nil, detail: error.description)
            }
        case .sharedAccessSignature(let token)?:
            authorization = .sharedAccessSignature(token.hasPrefix("?") ? String(token.dropFirst()) : token)
        case .tokenProvider(let provider)?:
            // A bearer token is a password for the account: never over plain HTTP to another machine.
            guard scheme == "https" || Self.isLoopback(host) else {
                throw BlobStorageError(status: nil, code: nil, detail: "bearer tokens are sent only over https (or to a loopback address)")
            }
            authorization = .bearer(TokenCache(provider: provider))
        case nil:
            guard hasSAS else {
                throw BlobStorageError(status: nil, code: nil, detail: "no credential: give one, or a container URL with a SAS")
            }
            authorization = .none
        }
        var bare = URLComponents(url: containerURL, resolvingAgainstBaseURL: false)
        if credential != nil { bare?.query = nil }
        self.containerURL = containerURL
        self.logger = options.logger
        self.container = BlobContainerClient(containerURL: credential == nil ? containerURL : (bare?.url ?? containerURL),
                                             authorization: authorization, http: options.httpClient, retry: options.retry,
                                             logger: options.logger)
    }

    /// A store in container `containerName` of the account a storage connection string names
    /// (its key, or its SAS).
    public convenience init(connectionString: String, containerName: String, options: Options = Options()) throws(BlobStorageError) {
        let parsed: StorageConnectionString
        do {
            parsed = try StorageConnectionString(parsing: connectionString)
        } catch {
            throw BlobStorageError(status: nil, code: nil, detail: "storage connection string: \(error.description)")
        }
        try self.init(connectionString: parsed, containerName: containerName, options: options)
    }

    /// A store in container `containerName` of a parsed storage connection string's account.
    public convenience init(connectionString: StorageConnectionString, containerName: String, options: Options = Options()) throws(BlobStorageError) {
        let url = connectionString.blobEndpoint.appendingPathComponent(containerName)
        if let key = connectionString.accountKey {
            try self.init(containerURL: url, credential: .sharedKey(accountName: connectionString.accountName, accountKey: key), options: options)
        } else if let sas = connectionString.sharedAccessSignature {
            try self.init(containerURL: url, credential: .sharedAccessSignature(sas), options: options)
        } else {
            throw BlobStorageError(status: nil, code: nil, detail: "the storage connection string has neither AccountKey nor SharedAccessSignature")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        return lowered == "localhost" || lowered == "::1" || lowered == "[::1]" || lowered.hasPrefix("127.")
    }

    /// Creates the container unless it exists (`Put Container`); `true` when it was created. The
    /// store never does this on its own: in production the container is provisioned beside the
    /// event hub.
    @discardableResult
    public func createContainerIfNotExists() async throws -> Bool {
        let response = try await container.send(.PUT, blob: nil, query: [("restype", "container")], operation: "create container")
        switch response.status {
        case 201: return true
        case 409 where response.errorCode == "ContainerAlreadyExists": return false
        default: throw BlobContainerClient.failure(response, "create container")
        }
    }

    // MARK: CheckpointStore

    /// Every ownership record of the consumer group (`List Blobs` under `…/ownership/` with metadata).
    public func listOwnership(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws -> [PartitionOwnership] {
        let prefix = CheckpointBlobLayout.ownershipPrefix(fullyQualifiedNamespace, eventHubName, consumerGroup)
        return try await list(prefix: prefix).map { item in
            let owner = item.metadata(CheckpointBlobLayout.ownerIDKey)
            if owner == nil {
                logger.notice("ownership blob without ownerid: treated as unowned", metadata: ["blob.name": "\(item.name)"])
            }
            return PartitionOwnership(fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName, consumerGroup: consumerGroup,
                                      partitionID: CheckpointBlobLayout.partitionID(ofBlob: item.name), ownerID: owner ?? "",
                                      lastModified: item.lastModified, etag: item.etag)
        }
    }

    /// Claims each ownership whose ETag is still current (or that has none and no record yet);
    /// returns the claims won, with their new ETags and times. A lost race is not an error.
    public func claimOwnership(_ ownership: [PartitionOwnership]) async throws -> [PartitionOwnership] {
        var claimed: [PartitionOwnership] = []
        for request in ownership {
            let name = CheckpointBlobLayout.ownershipBlob(request)
            let metadata: [(name: String, value: String)] = [("x-ms-meta-" + CheckpointBlobLayout.ownerIDKey, request.ownerID)]
            let response: BlobContainerClient.Response
            if let etag = request.etag {
                response = try await container.send(.PUT, blob: name, query: [("comp", "metadata")],
                                                    headers: metadata + [("If-Match", BlobContainerClient.quoted(etag))], operation: "claim partition \(request.partitionID)")
            } else {
                response = try await container.send(.PUT, blob: name, query: [],
                                                    headers: metadata + [("x-ms-blob-type", "BlockBlob"), ("If-None-Match", "*")],
                                                    operation: "claim partition \(request.partitionID)")
            }
            switch response.status {
            case 200, 201:
                guard let etag = response.etag else {
                    throw BlobStorageError(status: response.status, code: nil, detail: "claim of partition \(request.partitionID): the answer has no ETag")
                }
                var won = request
                won.etag = etag
                won.lastModified = response.lastModified ?? Date()
                claimed.append(won)
            case 412, 409:
                // Someone else changed (or created) the record since we read it.
                logger.debug("lost the race for a partition", metadata: ["eventhubs.partition": "\(request.partitionID)", "http.status": "\(response.status)"])
            case 404 where request.etag != nil && response.errorCode == "BlobNotFound":
                // The record we read is gone: our ETag cannot match any more.
                logger.debug("ownership record vanished", metadata: ["eventhubs.partition": "\(request.partitionID)"])
            default:
                throw BlobContainerClient.failure(response, "claim partition \(request.partitionID)")
            }
        }
        return claimed
    }

    /// Every readable checkpoint of the consumer group; an unreadable one is logged and left out.
    public func listCheckpoints(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws -> [Checkpoint] {
        let prefix = CheckpointBlobLayout.checkpointPrefix(fullyQualifiedNamespace, eventHubName, consumerGroup)
        return try await list(prefix: prefix).compactMap { item -> Checkpoint? in
            switch CheckpointBlobLayout.checkpoint(from: item) {
            case .success(let position):
                return Checkpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName, consumerGroup: consumerGroup,
                                  partitionID: CheckpointBlobLayout.partitionID(ofBlob: item.name),
                                  offset: position.offset, sequenceNumber: position.sequenceNumber)
            case .failure(let garbage):
                logger.warning("unreadable checkpoint: the partition starts from the default position", metadata: ["blob.problem": "\(garbage)"])
                return nil
            }
        }
    }

    /// Writes the partition's checkpoint (`Set Blob Metadata`, or `Put Blob` the first time).
    public func updateCheckpoint(_ checkpoint: Checkpoint) async throws {
        let name = CheckpointBlobLayout.checkpointBlob(checkpoint)
        let metadata: [(name: String, value: String)] = CheckpointBlobLayout.checkpointMetadata(checkpoint).map { ("x-ms-meta-" + $0.name, $0.value) }
        let operation = "checkpoint partition \(checkpoint.partitionID)"
        let update = try await container.send(.PUT, blob: name, query: [("comp", "metadata")], headers: metadata, operation: operation)
        switch update.status {
        case 200:
            return
        case 404 where update.errorCode == "BlobNotFound":
            let create = try await container.send(.PUT, blob: name, query: [], headers: metadata + [("x-ms-blob-type", "BlockBlob")], operation: operation)
            guard create.status == 201 else { throw BlobContainerClient.failure(create, operation) }
        default:
            throw BlobContainerClient.failure(update, operation)
        }
    }

    /// Every blob under `prefix`, following `NextMarker` across pages.
    func list(prefix: String) async throws -> [BlobListing.Item] {
        var items: [BlobListing.Item] = []
        var marker: String?
        repeat {
            var query: [(name: String, value: String)] = [("restype", "container"), ("comp", "list"), ("prefix", prefix), ("include", "metadata")]
            if let marker { query.append(("marker", marker)) }
            let response = try await container.send(.GET, blob: nil, query: query, operation: "list \(prefix)")
            guard response.status == 200 else { throw BlobContainerClient.failure(response, "list \(prefix)") }
            let page: BlobListing
            do {
                page = try BlobListing(xml: Array(response.body.readableBytesView))
            } catch {
                throw BlobStorageError(status: response.status, code: nil, detail: "list \(prefix): \(error.description)")
            }
            items += page.items
            marker = page.nextMarker
        } while marker != nil
        return items
    }
}
