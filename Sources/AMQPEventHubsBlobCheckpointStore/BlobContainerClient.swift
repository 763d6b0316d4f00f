import AMQPBlobStorage
import AMQPEventHubs
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A failed Blob Storage request: the HTTP status and the service's error code when it answered,
/// or the transport failure when it did not.
public struct BlobStorageError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status, when the service answered.
    public var status: Int?
    /// The service's error code (`x-ms-error-code`: `ConditionNotMet`, `ContainerNotFound`, …).
    public var code: String?
    /// What was asked and what happened; never a key, a signature or a token.
    public var detail: String

    /// Whether trying again may succeed: no answer at all, 408, 429 or a 5xx — the statuses
    /// Microsoft's storage clients retry (`StorageRetryPolicy` in `azure/storage/blob/_shared/policies.py`).
    public var isTransient: Bool {
        guard let status else { return true }
        return status == 408 || status == 429 || (500...599).contains(status)
    }

    public var description: String {
        var text = "Blob Storage: \(detail)"
        if let status { text += " (HTTP \(status)\(code.map { " \($0)" } ?? ""))" }
        return text
    }
}

/// One container of a Blob service: the few REST operations checkpoint stores use, signed with
/// the configured credential and retried on transient failures.
final class BlobContainerClient: Sendable {
    enum Authorization: Sendable {
        case sharedKey(BlobSharedKey)
        case sharedAccessSignature(String)
        case bearer(TokenCache)
        /// The container URL carries a SAS already.
        case none
    }

    /// The service version sent as `x-ms-version`: the one Microsoft's Python checkpoint store
    /// pins (`api_version="2019-07-07"` in `_blobstoragecs.py`), so the service treats our requests
    /// as it treats theirs. Bearer tokens need 2017-11-09 or later; this is later.
    static let serviceVersion = "2019-07-07"

    let containerURL: URL
    let authorization: Authorization
    let http: HTTPClient
    let retry: EventHubsRetryOptions
    let logger: Logger

    init(containerURL: URL, authorization: Authorization, http: HTTPClient?, retry: EventHubsRetryOptions, logger: Logger) {
        self.containerURL = containerURL
        self.authorization = authorization
        // The process-wide client by default: it needs no shutdown, so a store can simply be dropped.
        self.http = http ?? HTTPClient.shared
        self.retry = retry
        self.logger = logger
    }

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer

        /// The ETag without its quotes: the form listings use, so that a record read from either
        /// compares equal (``BlobContainerClient/quoted(_:)`` puts them back for `If-Match`).
        var etag: String? { headers.first(name: "ETag").map(BlobContainerClient.unquoted) }
        var lastModified: Date? { headers.first(name: "Last-Modified").flatMap(BlobDate.parseRFC1123) }
        var errorCode: String? { headers.first(name: "x-ms-error-code") }
    }

    static func unquoted(_ etag: String) -> String {
        etag.count >= 2 && etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
    }

    /// An entity tag as HTTP writes it in `If-Match`.
    static func quoted(_ etag: String) -> String {
        etag.hasPrefix("\"") || etag.hasPrefix("W/") ? etag : "\"\(etag)\""
    }

    /// The largest answer read: a listing page of 5,000 blobs with metadata is well under this.
    static let maxResponseBytes = 16 << 20

    /// Sends one request (retrying transient failures) and returns the service's answer,
    /// whatever its status; throws ``BlobStorageError`` when there is no answer after the retries
    /// or the answer is a transient failure still.
    func send(_ method: HTTPMethod, blob: String?, query: [(name: String, value: String)], headers extra: [(name: String, value: String)] = [],
              operation: String) async throws -> Response {
        try await withRetries(operation) { () async throws -> Response in
            let response = try await self.sendOnce(method, blob: blob, query: query, headers: extra)
            if (response.status == 408 || response.status == 429 || response.status >= 500) {
                throw BlobStorageError(status: response.status, code: response.errorCode, detail: operation)
            }
            return response
        }
    }

    /// The store's retries: the Event Hubs layer's one retry loop (``RetrySchedule``) with
    /// ``EventHubsRetryOptions`` (attempts, backoff, jitter), retrying what
    /// ``BlobStorageError/isTransient`` says is worth it. Each attempt is bounded by
    /// ``EventHubsRetryOptions/tryTimeout``.
    func withRetries<T>(_ operation: String, _ attempt: () async throws -> T) async throws -> T {
        func classified(_ error: any Error) -> BlobStorageError {
            (error as? BlobStorageError) ?? BlobStorageError(status: nil, code: nil, detail: "\(operation): \(Self.describe(error))")
        }
        var schedule = RetrySchedule(retry)
        do {
            return try await schedule.retrying(
                isRetried: { classified($0).isTransient },
                sleep: { try await Task.sleep(for: $0) },
                attempt,
                onFailure: { error in
                    let failure = classified(error)
                    guard failure.isTransient else { return }
                    self.logger.notice("blob request failed", metadata: ["blob.operation": "\(operation)", "blob.error": "\(failure)"])
                })
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw classified(error)
        }
    }

    /// A transport failure in a few words: AHC's errors print as their case names.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "no answer (\(error))" }
        return "no answer (\(error))"
    }

    /// Percent-encodes a blob name segment by segment, keeping `/`, as Microsoft's clients do
    /// (`quote(blob_name, safe="~/")`).
    static func encodePath(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~/")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    static func encodeQueryValue(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    private func sendOnce(_ method: HTTPMethod, blob: String?, query: [(name: String, value: String)],
                          headers extra: [(name: String, value: String)]) async throws -> Response {
        var path = containerURL.path(percentEncoded: true)
        if path.hasSuffix("/") { path.removeLast() }
        if let blob { path += "/" + Self.encodePath(blob) }
        var queryText = query.map { "\(Self.encodeQueryValue($0.name))=\(Self.encodeQueryValue($0.value))" }.joined(separator: "&")
        var signedQuery = query
        if let existing = containerURL.query(percentEncoded: true), !existing.isEmpty {
            queryText = queryText.isEmpty ? existing : existing + "&" + queryText
        }
        var headers: [(name: String, value: String)] = [
            ("x-ms-version", Self.serviceVersion),
            ("x-ms-date", BlobDate.rfc1123(Date())),
            ("x-ms-client-request-id", UUID().uuidString.lowercased()),
        ] + extra
        if method == .PUT { headers.append(("Content-Length", "0")) }
        switch authorization {
        case .sharedKey(let key):
            headers.append(("Authorization", key.authorization(method: method.rawValue, encodedPath: path, query: signedQuery, headers: headers)))
        case .sharedAccessSignature(let token):
            queryText = queryText.isEmpty ? token : queryText + "&" + token
            signedQuery = []
        case .bearer(let cache):
            headers.append(("Authorization", "Bearer " + (try await cache.token())))
        case .none:
            break
        }
        var url = "\(containerURL.scheme ?? "https")://\(containerURL.host(percentEncoded: true) ?? "")"
        if let port = containerURL.port { url += ":\(port)" }
        url += path
        if !queryText.isEmpty { url += "?" + queryText }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers where name != "Content-Length" { request.headers.add(name: name, value: value) }
        if method == .PUT { request.body = .bytes(ByteBuffer()) }
        let response = try await http.execute(request, timeout: TimeAmount.nanoseconds(Self.nanoseconds(retry.tryTimeout)), logger: nil)
        let body = try await response.body.collect(upTo: Self.maxResponseBytes)
        return Response(status: Int(response.status.code), headers: response.headers, body: body)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// A failure answer as an error naming the operation.
    static func failure(_ response: Response, _ operation: String) -> BlobStorageError {
        BlobStorageError(status: response.status, code: response.errorCode, detail: operation)
    }
}

/// Bearer tokens for `https://storage.azure.com/.default` from the caller's provider, kept until
/// shortly before they expire.
actor TokenCache {
    /// The scope Microsoft Entra ID issues Blob Storage tokens for.
    static let storageScope = "https://storage.azure.com/.default"

    let provider: any EventHubsTokenProvider
    private var current: EventHubsAccessToken?

    init(provider: any EventHubsTokenProvider) {
        self.provider = provider
    }

    /// A token valid for at least another minute (or a tenth of its lifetime, if shorter).
    func token() async throws -> String {
        if let current, current.expiresOn.timeIntervalSinceNow > 60 { return current.token }
        let fresh = try await provider.token(forAudience: Self.storageScope)
        current = fresh
        return fresh.token
    }
}
