import AMQPEventHubsProtocol
import Foundation

/// A token to put on `$cbs`: a Shared Access Signature or a JSON Web Token (Microsoft Entra ID),
/// valid until ``expiresOn``. Its ``description`` never shows the token.
public struct EventHubsAccessToken: Sendable, CustomStringConvertible {
    /// What kind of token it is, which `$cbs` is told.
    public enum TokenType: Sendable, Hashable {
        /// `servicebus.windows.net:sastoken`
        case sharedAccessSignature
        /// `jwt`: an OAuth 2 access token for the scope `https://eventhubs.azure.net/.default`.
        case jsonWebToken

        var cbsName: String {
            switch self {
            case .sharedAccessSignature: return EventHubsNames.sasTokenType
            case .jsonWebToken: return EventHubsNames.jwtTokenType
            }
        }
    }

    /// The token itself. Never logged.
    public var token: String
    /// SAS or JWT.
    public var type: TokenType
    /// When it stops being valid; it is renewed before then.
    public var expiresOn: Date

    /// A token of `type` valid until `expiresOn`.
    public init(token: String, type: TokenType, expiresOn: Date) {
        self.token = token
        self.type = type
        self.expiresOn = expiresOn
    }

    /// Type and expiry; the token is redacted.
    public var description: String { "EventHubsAccessToken(\(type), expires \(expiresOn), token: <redacted>)" }
}

/// Supplies tokens for an audience (`sb://host/hub`, `sb://host/hub/consumergroups/cg`):
/// implement it to authorize with Microsoft Entra ID (`jwt`) or a signing service of your own.
/// It is asked again shortly before each token expires, for as long as the connection lives.
public protocol EventHubsTokenProvider: Sendable {
    func token(forAudience audience: String) async throws -> EventHubsAccessToken
}

/// How the client proves it may use the event hub.
public enum EventHubsCredential: Sendable, CustomStringConvertible {
    /// A shared access policy's name and key: the client signs its own SAS tokens (valid for
    /// ``EventHubsClientOptions/tokenLifetime``) and renews them before they expire. The key is
    /// also what SASL PLAIN sends when ``EventHubsClientOptions/Authorization/saslPlain`` is chosen.
    case sharedAccessKey(name: String, key: String)
    /// A pre-signed `SharedAccessSignature sr=…&sig=…&se=…&skn=…`; it cannot be renewed, so
    /// operations fail with ``EventHubsError/Kind/authentication`` once its `se=` has passed.
    case sharedAccessSignature(String)
    /// Tokens from the caller, renewed through the provider.
    case tokenProvider(any EventHubsTokenProvider)

    /// The credential of a connection string: its key name and key, or its pre-signed signature.
    public init(_ connectionString: EventHubsConnectionString) throws(EventHubsError) {
        if let signature = connectionString.sharedAccessSignature {
            self = .sharedAccessSignature(signature)
        } else if let name = connectionString.sharedAccessKeyName, let key = connectionString.sharedAccessKey {
            self = .sharedAccessKey(name: name, key: key)
        } else {
            throw EventHubsError(.invalidArgument, detail: "the connection string has neither SharedAccessKeyName and SharedAccessKey nor SharedAccessSignature")
        }
    }

    /// A token for `audience`; signed tokens live for `lifetime` from `now`.
    func token(forAudience audience: String, lifetime: Duration, now: Date) async throws -> EventHubsAccessToken {
        switch self {
        case .sharedAccessKey(let name, let key):
            let expiry = Int64(now.timeIntervalSince1970) + max(Int64(lifetime.components.seconds), 1)
            let signature = SharedAccessSignature(audience: audience, keyName: name, key: key, expiry: expiry)
            return EventHubsAccessToken(token: signature.token, type: .sharedAccessSignature,
                                        expiresOn: Date(timeIntervalSince1970: TimeInterval(expiry)))
        case .sharedAccessSignature(let text):
            guard let signature = SharedAccessSignature(parsing: text) else {
                throw EventHubsError(.invalidArgument, detail: "SharedAccessSignature is not of the form SharedAccessSignature sr=…&sig=…&se=…&skn=…")
            }
            return EventHubsAccessToken(token: text, type: .sharedAccessSignature,
                                        expiresOn: Date(timeIntervalSince1970: TimeInterval(signature.expiry)))
        case .tokenProvider(let provider):
            return try await provider.token(forAudience: audience)
        }
    }

    /// The kind of credential; never the key or token.
    public var description: String {
        switch self {
        case .sharedAccessKey(let name, _): return "shared access key \(name) (key redacted)"
        case .sharedAccessSignature: return "shared access signature (redacted)"
        case .tokenProvider(let provider): return "token provider \(type(of: provider))"
        }
    }
}
