import AMQPBlobStorage
import Foundation
import Logging
import NIOConcurrencyHelpers

/// An HTTP request to the Blob endpoint, as read off the wire.
struct BlobRequest: Sendable {
    var method: String
    /// The request target: path and query, percent-encoded as sent.
    var uri: String
    /// Every header, in order, names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        let all = headers.filter { $0.name.lowercased() == name }.map(\.value)
        return all.isEmpty ? nil : all.joined(separator: ",")
    }
}

/// The answer to one request.
struct BlobResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
}

/// The Blob operations that checkpoint stores (and the generic calls around them) use, served the
/// way the service answers them: Create Container, Get Container Properties, Delete Container,
/// List Blobs (prefix, marker, maxresults, `include=metadata`), Put Blob (block blobs), Set Blob
/// Metadata, Get Blob Properties, Get Blob (with a range) and Delete Blob; ETags that change with
/// every write; the conditional headers with the service's rules (412 `ConditionNotMet`, 409
/// `BlobAlreadyExists` for `Put Blob` with `If-None-Match: *`, 304 for reads); 404 and 409 with the
/// service's error codes; Shared Key and service SAS verified against the development account
/// (`devstoreaccount1`), 403 otherwise; 400 for what is malformed. Requests run one at a time
/// (the endpoint calls ``handle(_:)`` from a single thread), so a condition checked is still true
/// when the write it guards lands; a write is acknowledged only after it is durable.
final class BlobService: Sendable {
    struct State {
        var containers: [String: StoredContainer]
        /// The last ETag's tick, so each write's ETag is new even within one clock tick.
        var lastTick: UInt64
    }

    let accountName = StorageConnectionString.developmentAccountName
    let key: BlobSharedKey
    let persistence: BlobPersistence?
    let acceptsBearerTokens: Bool
    let logger: Logger
    let now: @Sendable () -> Date
    private let state: NIOLockedValueBox<State>

    /// Bodies above this are refused with 413: checkpoint blobs are empty, and an emulator need not
    /// hold large files.
    static let maxBodyBytes = 4 << 20
    /// The version the endpoint answers with when a request names none.
    static let defaultVersion = "2021-08-06"
    /// Shared Key requests more than this far from our clock are refused, as the service does.
    static let allowedClockSkew: TimeInterval = 15 * 60
    static let maxResultsLimit = 5000
    static let maxMetadataBytes = 8 * 1024

    init(dataDirectory: String?, acceptsBearerTokens: Bool, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.key = try! BlobSharedKey(accountName: StorageConnectionString.developmentAccountName,
                                      base64Key: StorageConnectionString.developmentAccountKey)
        self.persistence = dataDirectory.map(BlobPersistence.init(dataDirectory:))
        self.acceptsBearerTokens = acceptsBearerTokens
        self.logger = logger
        self.now = now
        let containers = persistence?.load(logger: logger) ?? [:]
        var lastTick: UInt64 = 0
        for container in containers.values {
            lastTick = max(lastTick, Self.tick(ofETag: container.etag))
            for blob in container.blobs.values { lastTick = max(lastTick, Self.tick(ofETag: blob.etag)) }
        }
        state = NIOLockedValueBox(State(containers: containers, lastTick: lastTick))
    }

    // MARK: Errors

    struct Failure: Error {
        var status: Int
        var code: String
        var message: String
        var headers: [(name: String, value: String)] = []
    }

    static func fail(_ status: Int, _ code: String, _ message: String) -> Failure { Failure(status: status, code: code, message: message) }

    // MARK: Dispatch

    /// Answers one request; never throws, never traps on what a client sends.
    func handle(_ request: BlobRequest) -> BlobResponse {
        let started = now()
        var response: BlobResponse
        do {
            response = try route(request)
        } catch let failure as Failure {
            response = BlobResponse(status: failure.status, headers: [("x-ms-error-code", failure.code)] + failure.headers,
                                    body: request.method == "HEAD" ? [] : Array(BlobXML.error(code: failure.code, message: failure.message).utf8))
            if !response.body.isEmpty { response.headers.append(("Content-Type", "application/xml")) }
        } catch {
            response = BlobResponse(status: 500, headers: [("x-ms-error-code", "InternalError")],
                                    body: Array(BlobXML.error(code: "InternalError", message: "\(error)").utf8))
        }
        response.headers += [
            ("x-ms-request-id", UUID().uuidString.lowercased()),
            ("x-ms-version", request.header("x-ms-version") ?? Self.defaultVersion),
            ("Date", BlobDate.rfc1123(started)),
            ("Server", "swift-amqp-eventhubs-emulator"),
        ]
        if let id = request.header("x-ms-client-request-id") { response.headers.append(("x-ms-client-request-id", id)) }
        logger.debug("blob request", metadata: ["http.method": "\(request.method)", "http.status": "\(response.status)",
                                                "http.target": "\(request.uri.split(separator: "?").first ?? "")"])
        return response
    }

    /// The path segments after the account, decoded, and the query, decoded.
    struct Target {
        var encodedPath: String
        var container: String?
        var blob: String?
        var query: [(name: String, value: String)]

        func query(_ name: String) -> String? { query.first { $0.name == name }?.value }
    }

    static func parseTarget(_ uri: String, account: String) throws -> Target {
        guard uri.hasPrefix("/") else { throw BlobService.fail(400, "InvalidUri", "The request target is not an absolute path.") }
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let encodedPath = String(parts[0])
        var query: [(name: String, value: String)] = []
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = String(kv[0]).removingPercentEncoding,
                      let value = (kv.count > 1 ? String(kv[1]) : "").removingPercentEncoding
                else { throw BlobService.fail(400, "InvalidQueryParameterValue", "A query parameter is not valid percent-encoding.") }
                query.append((name, value))
            }
        }
        // Path style, as Azurite serves: /ACCOUNT/CONTAINER/BLOB…; the blob name keeps its slashes.
        let segments = encodedPath.dropFirst().split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard segments.first == account else { throw BlobService.fail(400, "InvalidUri", "The path must start with /\(account).") }
        var target = Target(encodedPath: encodedPath, container: nil, blob: nil, query: query)
        if segments.count > 1, !segments[1].isEmpty {
            guard let container = segments[1].removingPercentEncoding else { throw BlobService.fail(400, "InvalidUri", "The container name is not valid percent-encoding.") }
            target.container = container
        }
        if segments.count > 2, !segments[2].isEmpty {
            guard let blob = segments[2].removingPercentEncoding else { throw BlobService.fail(400, "InvalidUri", "The blob name is not valid percent-encoding.") }
            target.blob = blob
        }
        return target
    }

    private func route(_ request: BlobRequest) throws -> BlobResponse {
        if let version = request.header("x-ms-version"), !Self.isVersion(version) {
            throw Self.fail(400, "InvalidHeaderValue", "The value for the header x-ms-version is not a version.")
        }
        let target = try Self.parseTarget(request.uri, account: accountName)
        guard let containerName = target.container else {
            throw Self.fail(400, "UnsupportedQueryParameter", "Account-level operations are not served by this endpoint.")
        }
        try Self.validateContainerName(containerName)
        if let blob = target.blob {
            guard (1...1024).contains(blob.count) else { throw Self.fail(400, "InvalidResourceName", "A blob name has 1 to 1,024 characters.") }
        }
        let restype = target.query("restype"), comp = target.query("comp")
        let operation: Operation
        switch (request.method, target.blob == nil, restype, comp) {
        case ("PUT", true, "container", nil): operation = .createContainer
        case ("GET", true, "container", nil), ("HEAD", true, "container", nil): operation = .containerProperties
        case ("DELETE", true, "container", nil): operation = .deleteContainer
        case ("GET", true, "container", "list"): operation = .listBlobs
        case ("PUT", false, nil, nil): operation = .putBlob
        case ("PUT", false, nil, "metadata"): operation = .setBlobMetadata
        case ("HEAD", false, nil, nil): operation = .blobProperties
        case ("GET", false, nil, nil): operation = .getBlob
        case ("DELETE", false, nil, nil): operation = .deleteBlob
        default:
            throw Self.fail(400, "UnsupportedHttpVerb", "\(request.method) with restype=\(restype ?? "") comp=\(comp ?? "") is not an operation this endpoint serves.")
        }
        try authorize(request, target: target, operation: operation)
        if request.body.count > Self.maxBodyBytes {
            throw Self.fail(413, "RequestBodyTooLarge", "The request body is larger than \(Self.maxBodyBytes) bytes.")
        }
        return try state.withLockedValue { state in
            switch operation {
            case .createContainer: return try createContainer(&state, containerName, request)
            case .containerProperties: return try containerProperties(state, containerName, request)
            case .deleteContainer: return try deleteContainer(&state, containerName, request)
            case .listBlobs: return try listBlobs(state, containerName, target, request)
            case .putBlob: return try putBlob(&state, containerName, target.blob!, request)
            case .setBlobMetadata: return try setBlobMetadata(&state, containerName, target.blob!, request)
            case .blobProperties, .getBlob: return try getBlob(state, containerName, target.blob!, request, withBody: operation == .getBlob)
            case .deleteBlob: return try deleteBlob(&state, containerName, target.blob!, request)
            }
        }
    }

    enum Operation {
        case createContainer, containerProperties, deleteContainer, listBlobs, putBlob, setBlobMetadata, blobProperties, getBlob, deleteBlob

        /// The SAS permission letter it needs; `nil` for container operations a container SAS
        /// cannot grant.
        var permission: Character? {
            switch self {
            case .createContainer, .deleteContainer, .containerProperties: return nil
            case .listBlobs: return "l"
            case .putBlob, .setBlobMetadata: return "w"
            case .blobProperties, .getBlob: return "r"
            case .deleteBlob: return "d"
            }
        }
    }

    // MARK: Authorization

    private func authorize(_ request: BlobRequest, target: Target, operation: Operation) throws {
        if let authorization = request.header("authorization") {
            if authorization.hasPrefix("SharedKey ") {
                guard let dateText = request.header("x-ms-date") ?? request.header("date"), let date = BlobDate.parseRFC1123(dateText) else {
                    throw Self.fail(403, "AuthenticationFailed", "Shared Key requests need x-ms-date (or Date) in RFC 1123 form.")
                }
                guard abs(date.timeIntervalSince(now())) <= Self.allowedClockSkew else {
                    throw Self.fail(403, "AuthenticationFailed", "Request date header too old or too far in the future.")
                }
                let signedQuery = target.query
                guard key.verifies(authorization: authorization, method: request.method, encodedPath: target.encodedPath,
                                   query: signedQuery, headers: request.headers)
                else {
                    throw Self.fail(403, "AuthenticationFailed",
                                    "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
                }
                return
            }
            if authorization.hasPrefix("Bearer ") {
                // The emulator cannot check a Microsoft Entra ID token; it takes one only when told to.
                guard acceptsBearerTokens else {
                    throw Self.fail(403, "AuthenticationFailed", "Bearer tokens are not accepted here (start the emulator with --accept-jwt).")
                }
                return
            }
            throw Self.fail(403, "AuthenticationFailed", "The Authorization scheme is not SharedKey or Bearer.")
        }
        if target.query("sig") != nil {
            var token = target.query.filter { ["sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "si", "sr", "sig", "ses",
                                                "rscc", "rscd", "rsce", "rscl", "rsct", "snapshot"].contains($0.name) }
                .map { "\($0.name)=\(BlobServiceSASEncoding.encode($0.value))" }.joined(separator: "&")
            if token.isEmpty { token = "sig=" }
            guard let sas = BlobServiceSAS(token: token) else { throw Self.fail(403, "AuthenticationFailed", "The SAS token is not readable.") }
            guard let permission = operation.permission else {
                throw Self.fail(403, "AuthorizationPermissionMismatch", "A service SAS does not grant container operations.")
            }
            do {
                try sas.verify(permission: permission, container: target.container ?? "", blob: target.blob, account: accountName, key: key,
                               now: now(), isHTTPS: false)
            } catch .permissionMissing(_) {
                throw Self.fail(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")
            } catch {
                throw Self.fail(403, "AuthenticationFailed", "Server failed to authenticate the request: the SAS does not verify (\(error)).")
            }
            return
        }
        throw Self.fail(403, "AuthenticationFailed", "The request carries neither an Authorization header nor a SAS.")
    }

    // MARK: Validation

    static func isVersion(_ text: String) -> Bool {
        BlobDate.parseISO8601(text) != nil && text.count == 10
    }

    /// 3–63 characters of lower-case letters, digits and single hyphens, starting and ending
    /// with a letter or digit (the service's naming rules).
    static func validateContainerName(_ name: String) throws {
        let bytes = Array(name.utf8)
        let valid = (3...63).contains(bytes.count)
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            && bytes.first != 0x2D && bytes.last != 0x2D && !name.contains("--")
        guard valid else {
            throw BlobService.fail(400, "InvalidResourceName", "The specified resource name contains invalid characters.")
        }
    }

    /// The `x-ms-meta-*` headers: names must be C# identifiers, 8 KiB in all.
    static func metadata(of request: BlobRequest) throws -> [[String]] {
        var metadata: [[String]] = []
        var size = 0
        for (name, value) in request.headers where name.lowercased().hasPrefix("x-ms-meta-") {
            let key = String(name.dropFirst("x-ms-meta-".count))
            let bytes = Array(key.utf8)
            guard let first = bytes.first, first == 0x5F || Self.isLetter(first),
                  bytes.allSatisfy({ $0 == 0x5F || Self.isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) })
            else {
                throw BlobService.fail(400, "InvalidMetadata", "The metadata name \(key.prefix(64)) is not a valid identifier.")
            }
            if let index = metadata.firstIndex(where: { $0[0].lowercased() == key.lowercased() }) {
                metadata[index][1] += "," + value
            } else {
                metadata.append([key, value])
            }
            size += key.utf8.count + value.utf8.count
        }
        guard size <= maxMetadataBytes else { throw BlobService.fail(400, "MetadataTooLarge", "The metadata is larger than 8 KiB.") }
        return metadata
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    // MARK: Conditions

    /// The conditional headers of a request, ETags without quotes.
    struct Conditions {
        var ifMatch: String?
        var ifNoneMatch: String?
        var ifModifiedSince: Date?
        var ifUnmodifiedSince: Date?

        init(_ request: BlobRequest) throws {
            func etag(_ name: String) throws -> String? {
                guard let value = request.header(name) else { return nil }
                let items = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                // The service takes one ETag per header (RFC 7232 allows lists).
                guard items.count == 1 else {
                    throw BlobService.fail(400, "MultipleConditionHeadersNotSupported", "Multiple condition headers are not supported.")
                }
                return BlobService.unquote(items[0])
            }
            ifMatch = try etag("if-match")
            ifNoneMatch = try etag("if-none-match")
            // Dates that do not parse are ignored, as HTTP says.
            ifModifiedSince = request.header("if-modified-since").flatMap(BlobDate.parseRFC1123)
            ifUnmodifiedSince = request.header("if-unmodified-since").flatMap(BlobDate.parseRFC1123)
            let count = [ifMatch != nil, ifNoneMatch != nil, ifModifiedSince != nil, ifUnmodifiedSince != nil].filter { $0 }.count
            // If-Match goes with If-Unmodified-Since, If-None-Match with If-Modified-Since; nothing else combines.
            if count > 2 || (count == 2 && !((ifMatch != nil && ifUnmodifiedSince != nil) || (ifNoneMatch != nil && ifModifiedSince != nil))) {
                throw BlobService.fail(400, "MultipleConditionHeadersNotSupported", "Multiple condition headers are not supported.")
            }
        }

        /// The rules for writes: a failed condition is 412. `If-None-Match: *` on an existing
        /// resource is not enforced here (the service does not enforce it on Set Blob Metadata);
        /// Put Blob checks it itself and answers 409.
        func checkWrite(etag: String?, lastModified: Int64?) throws {
            let modified = lastModified.map { Date(timeIntervalSince1970: TimeInterval($0 / 1000)) }
            guard let etag else {
                if let ifMatch, ifMatch != "*" { throw BlobService.fail(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.") }
                return
            }
            if let ifNoneMatch {
                if ifNoneMatch != "*" && ifNoneMatch == etag { throw BlobService.conditionNotMet }
                return
            }
            if let ifMatch {
                if ifMatch != "*" && ifMatch != etag { throw BlobService.conditionNotMet }
                if let ifUnmodifiedSince, let modified, ifUnmodifiedSince < modified { throw BlobService.conditionNotMet }
                return
            }
            if let ifModifiedSince, let modified, modified <= ifModifiedSince { throw BlobService.conditionNotMet }
            if let ifUnmodifiedSince, let modified, ifUnmodifiedSince < modified { throw BlobService.conditionNotMet }
        }

        /// The rules for reads: If-None-Match and If-Modified-Since answer 304, the others 412.
        func checkRead(etag: String, lastModified: Int64) throws -> Bool {
            let modified = Date(timeIntervalSince1970: TimeInterval(lastModified / 1000))
            if let ifMatch, ifMatch != "*", ifMatch != etag { throw BlobService.conditionNotMet }
            if let ifUnmodifiedSince, ifUnmodifiedSince < modified { throw BlobService.conditionNotMet }
            if let ifNoneMatch, ifNoneMatch == "*" || ifNoneMatch == etag { return false }
            if let ifModifiedSince, modified <= ifModifiedSince { return false }
            return true
        }
    }

    static let conditionNotMet = fail(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")

    static func unquote(_ etag: String) -> String {
        var text = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
        return text
    }

    // MARK: ETags and times

    /// ETags in the service's form: `0x` and the write's time as a FILETIME (100 ns ticks since
    /// 1601) in hex, one tick later than the previous write at least.
    private func nextETag(_ state: inout State, at date: Date) -> String {
        let tick = UInt64(max(0, (date.timeIntervalSince1970 * 10_000_000).rounded())) + 116_444_736_000_000_000
        state.lastTick = max(tick, state.lastTick + 1)
        return "0x" + String(state.lastTick, radix: 16, uppercase: true)
    }

    static func tick(ofETag etag: String) -> UInt64 {
        etag.hasPrefix("0x") ? UInt64(etag.dropFirst(2), radix: 16) ?? 0 : 0
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000) }

    private static func propertyHeaders(etag: String, lastModified: Int64) -> [(name: String, value: String)] {
        [("ETag", "\"\(etag)\""), ("Last-Modified", BlobDate.rfc1123(date(lastModified)))]
    }

    private static func metadataHeaders(_ metadata: [[String]]) -> [(name: String, value: String)] {
        metadata.map { ("x-ms-meta-" + $0[0], $0[1]) }
    }

    /// Runs a persistence step; a failure is a 500 and nothing changes in memory.
    private func persist(_ body: (BlobPersistence) throws -> Void) throws {
        guard let persistence else { return }
        do {
            try body(persistence)
        } catch {
            logger.error("blob write failed: not acknowledged", metadata: ["blob.error": "\(error)"])
            throw Self.fail(500, "InternalError", "The write could not be made durable; it was not applied.")
        }
    }

    // MARK: Containers

    private func createContainer(_ state: inout State, _ name: String, _ request: BlobRequest) throws -> BlobResponse {
        guard state.containers[name] == nil else { throw Self.fail(409, "ContainerAlreadyExists", "The specified container already exists.") }
        let time = now()
        let container = StoredContainer(name: name, metadata: try Self.metadata(of: request), etag: nextETag(&state, at: time),
                                        lastModified: Self.milliseconds(time))
        try persist { try $0.save(container: container) }
        state.containers[name] = container
        return BlobResponse(status: 201, headers: Self.propertyHeaders(etag: container.etag, lastModified: container.lastModified), body: [])
    }

    private func existingContainer(_ state: State, _ name: String) throws -> StoredContainer {
        guard let container = state.containers[name] else { throw Self.fail(404, "ContainerNotFound", "The specified container does not exist.") }
        return container
    }

    private func containerProperties(_ state: State, _ name: String, _ request: BlobRequest) throws -> BlobResponse {
        let container = try existingContainer(state, name)
        return BlobResponse(status: 200, headers: Self.propertyHeaders(etag: container.etag, lastModified: container.lastModified)
            + Self.metadataHeaders(container.metadata) + [("x-ms-lease-status", "unlocked"), ("x-ms-lease-state", "available"),
                                                          ("x-ms-has-immutability-policy", "false"), ("x-ms-has-legal-hold", "false")],
            body: [])
    }

    private func deleteContainer(_ state: inout State, _ name: String, _ request: BlobRequest) throws -> BlobResponse {
        let container = try existingContainer(state, name)
        try Conditions(request).checkWrite(etag: container.etag, lastModified: container.lastModified)
        try persist { persistence in
            for blob in container.blobs.keys { try persistence.delete(blob: blob, in: name) }
            try persistence.delete(container: name)
        }
        state.containers[name] = nil
        return BlobResponse(status: 202, headers: [], body: [])
    }

    private func listBlobs(_ state: State, _ name: String, _ target: Target, _ request: BlobRequest) throws -> BlobResponse {
        let container = try existingContainer(state, name)
        var maxResults = Self.maxResultsLimit
        if let text = target.query("maxresults") {
            guard let number = Int(text), number >= 1 else {
                throw Self.fail(400, "OutOfRangeQueryParameterValue", "maxresults must be a positive integer.")
            }
            maxResults = min(number, Self.maxResultsLimit)
        }
        let include = Set((target.query("include") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        guard target.query("delimiter") == nil else {
            throw Self.fail(400, "UnsupportedQueryParameter", "delimiter (hierarchical listing) is not served by this endpoint.")
        }
        let prefix = target.query("prefix") ?? ""
        let marker = target.query("marker")
        var names = container.blobs.keys.filter { $0.hasPrefix(prefix) }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        // The marker is the first name of the next page.
        if let marker, !marker.isEmpty { names = names.filter { !Array($0.utf8).lexicographicallyPrecedes(Array(marker.utf8)) } }
        let page = names.prefix(maxResults)
        let next = names.count > maxResults ? names[maxResults] : nil
        let items = page.map { name -> BlobListing.Item in
            let blob = container.blobs[name]!
            return BlobListing.Item(name: blob.name, etag: blob.etag, lastModified: Self.date(blob.lastModified),
                                    creationTime: Self.date(blob.creationTime), contentLength: blob.body.count, contentType: blob.contentType,
                                    metadata: blob.metadata.map { ($0[0], $0[1]) })
        }
        let listing = BlobListing(serviceEndpoint: "http://\(request.header("host") ?? "127.0.0.1")/\(accountName)/", containerName: name,
                                  prefix: target.query("prefix"), marker: marker, maxResults: target.query("maxresults").flatMap(Int.init),
                                  items: items, nextMarker: next)
        return BlobResponse(status: 200, headers: [("Content-Type", "application/xml")],
                            body: Array(listing.xml(includeMetadata: include.contains("metadata")).utf8))
    }

    // MARK: Blobs

    private func putBlob(_ state: inout State, _ containerName: String, _ name: String, _ request: BlobRequest) throws -> BlobResponse {
        guard let type = request.header("x-ms-blob-type") else {
            throw Self.fail(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.")
        }
        guard type == "BlockBlob" else { throw Self.fail(400, "InvalidHeaderValue", "Only BlockBlob is served by this endpoint.") }
        var container = try existingContainer(state, containerName)
        let existing = container.blobs[name]
        let conditions = try Conditions(request)
        if existing != nil && conditions.ifNoneMatch == "*" {
            throw Self.fail(409, "BlobAlreadyExists", "The specified blob already exists.")
        }
        try conditions.checkWrite(etag: existing?.etag, lastModified: existing?.lastModified)
        let metadata = try Self.metadata(of: request)
        let time = now()
        let blob = StoredBlob(name: name, body: request.body, metadata: metadata, etag: nextETag(&state, at: time),
                              lastModified: Self.milliseconds(time), creationTime: existing?.creationTime ?? Self.milliseconds(time),
                              contentType: request.header("x-ms-blob-content-type") ?? request.header("content-type") ?? "application/octet-stream",
                              contentEncoding: request.header("x-ms-blob-content-encoding"),
                              contentLanguage: request.header("x-ms-blob-content-language"),
                              cacheControl: request.header("x-ms-blob-cache-control"),
                              contentDisposition: request.header("x-ms-blob-content-disposition"),
                              contentMD5: request.header("x-ms-blob-content-md5"))
        try persist { try $0.save(blob: blob, in: containerName) }
        container.blobs[name] = blob
        state.containers[containerName] = container
        return BlobResponse(status: 201, headers: Self.propertyHeaders(etag: blob.etag, lastModified: blob.lastModified)
            + [("x-ms-request-server-encrypted", "true")], body: [])
    }

    private func existingBlob(_ container: StoredContainer, _ name: String) throws -> StoredBlob {
        guard let blob = container.blobs[name] else { throw Self.fail(404, "BlobNotFound", "The specified blob does not exist.") }
        return blob
    }

    private func setBlobMetadata(_ state: inout State, _ containerName: String, _ name: String, _ request: BlobRequest) throws -> BlobResponse {
        var container = try existingContainer(state, containerName)
        let conditions = try Conditions(request)
        guard var blob = container.blobs[name] else {
            // A missing blob fails an If-Match first, as the service's condition check runs first.
            if let ifMatch = conditions.ifMatch, ifMatch != "*" { throw Self.conditionNotMet }
            throw Self.fail(404, "BlobNotFound", "The specified blob does not exist.")
        }
        try conditions.checkWrite(etag: blob.etag, lastModified: blob.lastModified)
        blob.metadata = try Self.metadata(of: request)
        let time = now()
        blob.etag = nextETag(&state, at: time)
        blob.lastModified = Self.milliseconds(time)
        let updated = blob
        try persist { try $0.save(blob: updated, in: containerName) }
        container.blobs[name] = blob
        state.containers[containerName] = container
        return BlobResponse(status: 200, headers: Self.propertyHeaders(etag: blob.etag, lastModified: blob.lastModified)
            + [("x-ms-request-server-encrypted", "true")], body: [])
    }

    private func getBlob(_ state: State, _ containerName: String, _ name: String, _ request: BlobRequest, withBody: Bool) throws -> BlobResponse {
        let blob = try existingBlob(try existingContainer(state, containerName), name)
        var headers = Self.propertyHeaders(etag: blob.etag, lastModified: blob.lastModified)
        guard try Conditions(request).checkRead(etag: blob.etag, lastModified: blob.lastModified) else {
            return BlobResponse(status: 304, headers: headers, body: [])
        }
        headers += Self.metadataHeaders(blob.metadata) + [
            ("x-ms-blob-type", "BlockBlob"), ("x-ms-creation-time", BlobDate.rfc1123(Self.date(blob.creationTime))),
            ("x-ms-lease-status", "unlocked"), ("x-ms-lease-state", "available"), ("x-ms-server-encrypted", "true"),
            ("Accept-Ranges", "bytes"), ("Content-Type", blob.contentType),
        ]
        for (header, value) in [("Content-Encoding", blob.contentEncoding), ("Content-Language", blob.contentLanguage),
                                ("Cache-Control", blob.cacheControl), ("Content-Disposition", blob.contentDisposition),
                                ("Content-MD5", blob.contentMD5)] {
            if let value { headers.append((header, value)) }
        }
        if !withBody {
            headers += [("x-ms-access-tier", "Hot"), ("x-ms-access-tier-inferred", "true"), ("Content-Length", String(blob.body.count))]
            return BlobResponse(status: 200, headers: headers, body: [])
        }
        guard let range = request.header("x-ms-range") ?? request.header("range") else {
            return BlobResponse(status: 200, headers: headers, body: blob.body)
        }
        guard let (start, end) = Self.parseRange(range) else {
            throw Self.fail(400, "InvalidHeaderValue", "The range is not of the form bytes=START-[END].")
        }
        guard start < blob.body.count else {
            var failure = Self.fail(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
            failure.headers.append(("Content-Range", "bytes */\(blob.body.count)"))
            throw failure
        }
        let last = min(end ?? (blob.body.count - 1), blob.body.count - 1)
        headers.append(("Content-Range", "bytes \(start)-\(last)/\(blob.body.count)"))
        return BlobResponse(status: 206, headers: headers, body: Array(blob.body[start...last]))
    }

    static func parseRange(_ text: String) -> (Int, Int?)? {
        guard text.hasPrefix("bytes=") else { return nil }
        let parts = text.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int(parts[0]), start >= 0 else { return nil }
        if parts[1].isEmpty { return (start, nil) }
        guard let end = Int(parts[1]), end >= start else { return nil }
        return (start, end)
    }

    private func deleteBlob(_ state: inout State, _ containerName: String, _ name: String, _ request: BlobRequest) throws -> BlobResponse {
        var container = try existingContainer(state, containerName)
        let blob = try existingBlob(container, name)
        try Conditions(request).checkWrite(etag: blob.etag, lastModified: blob.lastModified)
        try persist { try $0.delete(blob: name, in: containerName) }
        container.blobs[name] = nil
        state.containers[containerName] = container
        return BlobResponse(status: 202, headers: [("x-ms-delete-type-permanent", "true")], body: [])
    }
}

/// Re-encodes a SAS parameter the way it was signed over: decoded values, percent-encoded again
/// for ``BlobServiceSAS/init(token:)``.
enum BlobServiceSASEncoding {
    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
