import AMQPEventHubs
import AsyncHTTPClient
import Crypto
import Foundation
import _CryptoExtras
import NIOCore
import NIOHTTP1

/// Why a Microsoft Entra ID credential could not get a token: which credential, and what went
/// wrong. Never the secret, the assertion or a token.
public struct EntraIDError: Error, Sendable, CustomStringConvertible {
    /// The credential that failed (`ClientSecretCredential`, `ManagedIdentityCredential`, …).
    public var credential: String
    /// What happened.
    public var reason: String
    /// The failures of the credentials a chain tried, in order.
    public var attempts: [EntraIDError]

    public init(credential: String, reason: String, attempts: [EntraIDError] = []) {
        self.credential = credential
        self.reason = reason
        self.attempts = attempts
    }

    public var description: String {
        guard !attempts.isEmpty else { return "\(credential): \(reason)" }
        return "\(credential): \(reason) — " + attempts.map(\.description).joined(separator: "; ")
    }
}

/// A way to get Microsoft Entra ID access tokens for a scope. Wrap one in
/// ``EntraIDTokenProvider`` to authorize an `EventHubsClient`.
public protocol EntraIDTokenCredential: Sendable {
    /// The credential's name in errors.
    var name: String { get }
    /// A fresh token for `scope` (`https://eventhubs.azure.net/.default`).
    func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken
}

/// Tokens of an ``EntraIDTokenCredential`` for Event Hubs, cached and fetched again when less
/// than ``refreshMargin`` of their lifetime is left (azure-identity refreshes five minutes early).
///
/// ```swift
/// let credential = EntraIDTokenProvider(DefaultAzureCredential())
/// let client = EventHubsClient(endpoint: endpoint, credential: .tokenProvider(credential))
/// ```
public final class EntraIDTokenProvider: EventHubsTokenProvider {
    /// The scope of Event Hubs tokens.
    public static let eventHubsScope = "https://eventhubs.azure.net/.default"

    public let credential: any EntraIDTokenCredential
    public let scope: String
    public let refreshMargin: TimeInterval
    private let cache: TokenCache

    public init(_ credential: any EntraIDTokenCredential, scope: String = eventHubsScope, refreshMargin: TimeInterval = 300) {
        self.credential = credential
        self.scope = scope
        self.refreshMargin = refreshMargin
        self.cache = TokenCache()
    }

    /// One token serves every audience of the namespace: Entra ID tokens are scoped to the
    /// service, not to an entity.
    public func token(forAudience audience: String) async throws -> EventHubsAccessToken {
        try await cache.token(refreshMargin: refreshMargin) { () throws(EntraIDError) in try await self.credential.fetchToken(scope: self.scope) }
    }
}

/// The cached token, and the one fetch in flight that concurrent callers share.
actor TokenCache {
    private var current: EventHubsAccessToken?
    private var fetching: Task<EventHubsAccessToken, any Error>?

    func token(refreshMargin: TimeInterval, _ fetch: @escaping @Sendable () async throws(EntraIDError) -> EventHubsAccessToken) async throws -> EventHubsAccessToken {
        if let current, current.expiresOn.timeIntervalSinceNow > refreshMargin { return current }
        if let fetching { return try await fetching.value }
        let task = Task { try await fetch() }
        fetching = task
        defer { fetching = nil }
        let token = try await task.value
        current = token
        return token
    }
}

// MARK: - The token endpoint

/// The OAuth 2.0 token endpoint of a Microsoft Entra ID tenant, and the responses of the managed
/// identity endpoints, as azure-identity reads them.
enum TokenEndpoint {
    static let defaultAuthorityHost = "https://login.microsoftonline.com"

    static func authorityHost(_ given: String?) -> String {
        var host = given ?? ProcessInfo.processInfo.environment["AZURE_AUTHORITY_HOST"] ?? defaultAuthorityHost
        while host.hasSuffix("/") { host.removeLast() }
        return host
    }

    /// `application/x-www-form-urlencoded` of `fields`.
    static func form(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }

    /// POSTs the client-credentials grant and reads the token.
    static func clientCredentials(credential: String, http: HTTPClient, authorityHost: String, tenantID: String,
                                  fields: [(String, String)]) async throws(EntraIDError) -> EventHubsAccessToken {
        guard tenantID.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }), !tenantID.isEmpty else {
            throw EntraIDError(credential: credential, reason: "the tenant id \"\(tenantID)\" is not valid")
        }
        var request = HTTPClientRequest(url: "\(authorityHost)/\(tenantID)/oauth2/v2.0/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: form(fields)))
        return try await send(request, credential: credential, http: http)
    }

    static func send(_ request: HTTPClientRequest, credential: String, http: HTTPClient,
                     timeout: TimeAmount = .seconds(30)) async throws(EntraIDError) -> EventHubsAccessToken {
        let status: HTTPResponseStatus
        let body: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: timeout)
            status = response.status
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw EntraIDError(credential: credential, reason: "the token endpoint \(request.url) could not be reached: \(error)")
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        guard status.code / 100 == 2 else {
            // Entra ID says why in `error` and `error_description`; nothing of the request is repeated.
            let why = [json?["error"] as? String, json?["error_description"] as? String].compactMap { $0 }.joined(separator: ": ")
            throw EntraIDError(credential: credential, reason: "the token endpoint answered \(status.code)\(why.isEmpty ? "" : " (\(why))")")
        }
        guard let json else { throw EntraIDError(credential: credential, reason: "the token endpoint's answer is not JSON") }
        return try token(from: json, credential: credential)
    }

    /// `access_token` and its expiry: `expires_on` (seconds since 1970, a number or a string:
    /// managed identity) or `expires_in` (seconds from now: OAuth 2.0).
    static func token(from json: [String: Any], credential: String) throws(EntraIDError) -> EventHubsAccessToken {
        guard let token = json["access_token"] as? String, !token.isEmpty else {
            throw EntraIDError(credential: credential, reason: "the token endpoint's answer has no access_token")
        }
        func seconds(_ key: String) -> TimeInterval? {
            if let number = json[key] as? NSNumber { return number.doubleValue }
            if let text = json[key] as? String { return TimeInterval(text) }
            return nil
        }
        let expiresOn: Date
        if let on = seconds("expires_on") {
            expiresOn = Date(timeIntervalSince1970: on)
        } else if let within = seconds("expires_in") {
            expiresOn = Date().addingTimeInterval(within)
        } else {
            throw EntraIDError(credential: credential, reason: "the token endpoint's answer has neither expires_in nor expires_on")
        }
        return EventHubsAccessToken(token: token, type: .jsonWebToken, expiresOn: expiresOn)
    }
}

// MARK: - Credentials

/// An application's client secret (OAuth 2.0 client credentials), as azure-identity's
/// `ClientSecretCredential`.
public struct ClientSecretCredential: EntraIDTokenCredential {
    public var name: String { "ClientSecretCredential" }
    public var tenantID: String
    public var clientID: String
    private let clientSecret: String
    /// `https://login.microsoftonline.com` unless given or set in `AZURE_AUTHORITY_HOST`.
    public var authorityHost: String
    let http: HTTPClient

    public init(tenantID: String, clientID: String, clientSecret: String, authorityHost: String? = nil, httpClient: HTTPClient = .shared) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.authorityHost = TokenEndpoint.authorityHost(authorityHost)
        self.http = httpClient
    }

    public func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken {
        try await TokenEndpoint.clientCredentials(credential: name, http: http, authorityHost: authorityHost, tenantID: tenantID, fields: [
            ("client_id", clientID), ("client_secret", clientSecret), ("scope", scope), ("grant_type", "client_credentials"),
        ])
    }
}

/// Workload identity (AKS): the federated token in `AZURE_FEDERATED_TOKEN_FILE` is exchanged for
/// an access token, with the client and tenant from `AZURE_CLIENT_ID` and `AZURE_TENANT_ID`.
public struct WorkloadIdentityCredential: EntraIDTokenCredential {
    public var name: String { "WorkloadIdentityCredential" }
    public var tenantID: String?
    public var clientID: String?
    public var tokenFilePath: String?
    public var authorityHost: String
    let http: HTTPClient

    /// Anything not given is read from the variables AKS sets.
    public init(tenantID: String? = nil, clientID: String? = nil, tokenFilePath: String? = nil, authorityHost: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient = .shared) {
        self.tenantID = tenantID ?? environment["AZURE_TENANT_ID"]
        self.clientID = clientID ?? environment["AZURE_CLIENT_ID"]
        self.tokenFilePath = tokenFilePath ?? environment["AZURE_FEDERATED_TOKEN_FILE"]
        self.authorityHost = TokenEndpoint.authorityHost(authorityHost ?? environment["AZURE_AUTHORITY_HOST"])
        self.http = httpClient
    }

    public func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken {
        guard let tenantID, let clientID, let tokenFilePath else {
            throw EntraIDError(credential: name, reason: "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE are not all set")
        }
        // Read on every fetch: the kubelet rotates the file.
        guard let assertion = try? String(contentsOfFile: tokenFilePath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
              !assertion.isEmpty else {
            throw EntraIDError(credential: name, reason: "the federated token file \(tokenFilePath) cannot be read or is empty")
        }
        return try await TokenEndpoint.clientCredentials(credential: name, http: http, authorityHost: authorityHost, tenantID: tenantID, fields: [
            ("client_id", clientID), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion), ("scope", scope), ("grant_type", "client_credentials"),
        ])
    }
}

/// A managed identity: the App Service endpoint when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`
/// are set, else the instance metadata service (IMDS) of virtual machines.
public struct ManagedIdentityCredential: EntraIDTokenCredential {
    public var name: String { "ManagedIdentityCredential" }
    /// A user-assigned identity's client id; the system-assigned identity when `nil`.
    public var clientID: String?
    /// Where the tokens come from.
    public enum Endpoint: Sendable {
        /// IMDS, `http://169.254.169.254/metadata/identity/oauth2/token` by default.
        case instanceMetadata(url: String)
        /// App Service / Functions: `IDENTITY_ENDPOINT` and the secret `IDENTITY_HEADER`.
        case appService(url: String, secret: String)
    }

    public var endpoint: Endpoint
    /// How long a request may take. A chain gives IMDS a short one, as azure-identity does, so
    /// that off Azure (where nothing answers at 169.254.169.254) it moves on quickly.
    public var timeout: TimeAmount
    let http: HTTPClient

    public static let instanceMetadataURL = "http://169.254.169.254/metadata/identity/oauth2/token"

    public init(clientID: String? = nil, endpoint: Endpoint? = nil, timeout: TimeAmount = .seconds(30),
                environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient = .shared) {
        self.timeout = timeout
        self.clientID = clientID ?? environment["AZURE_CLIENT_ID"]
        if let endpoint {
            self.endpoint = endpoint
        } else if let url = environment["IDENTITY_ENDPOINT"], let secret = environment["IDENTITY_HEADER"] {
            self.endpoint = .appService(url: url, secret: secret)
        } else {
            self.endpoint = .instanceMetadata(url: Self.instanceMetadataURL)
        }
        self.http = httpClient
    }

    public func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken {
        // Managed identity endpoints take a resource, not a scope.
        let resource = scope.hasSuffix("/.default") ? String(scope.dropLast("/.default".count)) : scope
        var query: [(String, String)] = [("resource", resource)]
        if let clientID { query.append(("client_id", clientID)) }
        var request: HTTPClientRequest
        switch endpoint {
        case .instanceMetadata(let url):
            request = HTTPClientRequest(url: url + "?" + TokenEndpoint.form([("api-version", "2018-02-01")] + query))
            request.headers.add(name: "Metadata", value: "true")
        case .appService(let url, let secret):
            request = HTTPClientRequest(url: url + "?" + TokenEndpoint.form([("api-version", "2019-08-01")] + query))
            request.headers.add(name: "X-IDENTITY-HEADER", value: secret)
        }
        request.method = .GET
        return try await TokenEndpoint.send(request, credential: name, http: http, timeout: timeout)
    }
}

/// The Azure CLI's signed-in account: `az account get-access-token`.
public struct AzureCLICredential: EntraIDTokenCredential {
    public var name: String { "AzureCLICredential" }
    /// The `az` executable; found on `PATH` when only a name.
    public var executable: String
    public var tenantID: String?

    public init(executable: String = "az", tenantID: String? = nil) {
        self.executable = executable
        self.tenantID = tenantID
    }

    public func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken {
        let resource = scope.hasSuffix("/.default") ? String(scope.dropLast("/.default".count)) : scope
        var arguments = ["account", "get-access-token", "--output", "json", "--resource", resource]
        if let tenantID { arguments += ["--tenant", tenantID] }
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw EntraIDError(credential: name, reason: "\(executable) could not be started: \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let line = errorText.split(separator: "\n").first.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw EntraIDError(credential: name, reason: "az account get-access-token failed: \(line)")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let token = json["accessToken"] as? String else {
            throw EntraIDError(credential: name, reason: "az account get-access-token printed no accessToken")
        }
        // Newer versions print `expires_on` (seconds since 1970); older ones only `expiresOn`, local time.
        let expiresOn: Date
        if let on = (json["expires_on"] as? NSNumber)?.doubleValue ?? (json["expires_on"] as? String).flatMap(TimeInterval.init) {
            expiresOn = Date(timeIntervalSince1970: on)
        } else if let text = json["expiresOn"] as? String, let date = Self.localDate(text) {
            expiresOn = date
        } else {
            throw EntraIDError(credential: name, reason: "az account get-access-token printed no expiry")
        }
        return EventHubsAccessToken(token: token, type: .jsonWebToken, expiresOn: expiresOn)
    }

    static func localDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        for format in ["yyyy-MM-dd HH:mm:ss.SSSSSS", "yyyy-MM-dd HH:mm:ss"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

/// Tries credentials in order and uses the first that gives a token (and keeps using it), as
/// azure-identity's `ChainedTokenCredential`; when all fail, the error lists each one's reason.
public final class ChainedTokenCredential: EntraIDTokenCredential {
    public var name: String { "ChainedTokenCredential" }
    public let credentials: [any EntraIDTokenCredential]
    private let chosen = ChosenCredential()

    public init(_ credentials: [any EntraIDTokenCredential]) {
        self.credentials = credentials
    }

    public func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken {
        if let index = await chosen.index { return try await credentials[index].fetchToken(scope: scope) }
        var failures: [EntraIDError] = []
        for (index, credential) in credentials.enumerated() {
            do throws(EntraIDError) {
                let token = try await credential.fetchToken(scope: scope)
                await chosen.choose(index)
                return token
            } catch {
                failures.append(error)
            }
        }
        throw EntraIDError(credential: name, reason: "no credential gave a token", attempts: failures)
    }
}

actor ChosenCredential {
    private(set) var index: Int?
    func choose(_ index: Int) { if self.index == nil { self.index = index } }
}

/// azure-identity's `DefaultAzureCredential` for servers: a client secret from `AZURE_TENANT_ID`,
/// `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`, then workload identity, then managed identity,
/// then the Azure CLI.
public func DefaultAzureCredential(environment: [String: String] = ProcessInfo.processInfo.environment,
                                   httpClient: HTTPClient = .shared) -> ChainedTokenCredential {
    var chain: [any EntraIDTokenCredential] = []
    if let tenant = environment["AZURE_TENANT_ID"], let client = environment["AZURE_CLIENT_ID"], let secret = environment["AZURE_CLIENT_SECRET"] {
        chain.append(ClientSecretCredential(tenantID: tenant, clientID: client, clientSecret: secret,
                                            authorityHost: environment["AZURE_AUTHORITY_HOST"], httpClient: httpClient))
    }
    chain.append(WorkloadIdentityCredential(environment: environment, httpClient: httpClient))
    chain.append(ManagedIdentityCredential(timeout: .seconds(2), environment: environment, httpClient: httpClient))
    chain.append(AzureCLICredential())
    return ChainedTokenCredential(chain)
}

/// An application's certificate (OAuth 2.0 client credentials with a signed assertion), as
/// azure-identity's `CertificateCredential`: a JWT naming the application, signed RS256 with the
/// certificate's private key and carrying the certificate's SHA-1 thumbprint as `x5t`.
public struct ClientCertificateCredential: EntraIDTokenCredential {
    public var name: String { "ClientCertificateCredential" }
    public var tenantID: String
    public var clientID: String
    public var authorityHost: String
    private let certificateDER: [UInt8]
    private let privateKey: _RSA.Signing.PrivateKey
    let http: HTTPClient

    /// `certificatePEM` holds the certificate (`BEGIN CERTIFICATE`); `privateKeyPEM` its RSA key.
    public init(tenantID: String, clientID: String, certificatePEM: String, privateKeyPEM: String, authorityHost: String? = nil,
                httpClient: HTTPClient = .shared) throws(EntraIDError) {
        guard let der = Self.firstCertificate(in: certificatePEM) else {
            throw EntraIDError(credential: "ClientCertificateCredential", reason: "no PEM certificate found")
        }
        do {
            privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        } catch {
            throw EntraIDError(credential: "ClientCertificateCredential", reason: "the private key is not an RSA key in PEM")
        }
        self.tenantID = tenantID
        self.clientID = clientID
        self.certificateDER = der
        self.authorityHost = TokenEndpoint.authorityHost(authorityHost)
        self.http = httpClient
    }

    static func firstCertificate(in pem: String) -> [UInt8]? {
        guard let begin = pem.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = pem.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<pem.endIndex) else { return nil }
        let base64 = pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(base64)).map { Array($0) }
    }

    static func base64URL<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The client assertion for the token endpoint at `audience`, valid for ten minutes.
    func assertion(audience: String, now: Date = Date()) throws(EntraIDError) -> String {
        let thumbprint = Self.base64URL(Insecure.SHA1.hash(data: certificateDER))
        let header: [String: Any] = ["alg": "RS256", "typ": "JWT", "x5t": thumbprint]
        let issued = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = ["aud": audience, "iss": clientID, "sub": clientID, "jti": UUID().uuidString,
                                     "nbf": issued, "iat": issued, "exp": issued + 600]
        guard let headerJSON = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]),
              let claimsJSON = try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]) else {
            throw EntraIDError(credential: name, reason: "the assertion could not be encoded")
        }
        let signingInput = Self.base64URL(headerJSON) + "." + Self.base64URL(claimsJSON)
        guard let signature = try? privateKey.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5) else {
            throw EntraIDError(credential: name, reason: "the assertion could not be signed with the private key")
        }
        return signingInput + "." + Self.base64URL(signature.rawRepresentation)
    }

    public func fetchToken(scope: String) async throws(EntraIDError) -> EventHubsAccessToken {
        let endpoint = "\(authorityHost)/\(tenantID)/oauth2/v2.0/token"
        return try await TokenEndpoint.clientCredentials(credential: name, http: http, authorityHost: authorityHost, tenantID: tenantID, fields: [
            ("client_id", clientID), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", try assertion(audience: endpoint)), ("scope", scope), ("grant_type", "client_credentials"),
        ])
    }
}
