import AMQPCodec

/// The client side of one SASL mechanism (§5.3.3): what to send first, how to answer each
/// challenge, and how to check the server's final data.
///
/// Mechanisms see only bytes; the SASL frames around them are the connection's business.
public protocol SASLClientMechanism: Sendable {
    /// The mechanism's registered name (`PLAIN`, `ANONYMOUS`, `SCRAM-SHA-256`, …).
    var name: Symbol { get }
    /// Whether the mechanism sends a reusable secret as it is (PLAIN's password), which anyone
    /// who reads the connection can replay. Such a mechanism runs only where
    /// ``CleartextCredentials/permits(_:over:)`` lets it: over TLS, or where the caller opted in.
    ///
    /// Every mechanism states it; there is no default, because a wrong guess either leaks a
    /// secret or refuses a mechanism that is safe anywhere.
    var sendsCleartextSecret: Bool { get }
    /// The `initial-response` of `sasl-init`, if the mechanism has one.
    mutating func initialResponse() throws(SASLError) -> [UInt8]?
    /// The `sasl-response` to a `sasl-challenge`.
    mutating func response(to challenge: [UInt8]) throws(SASLError) -> [UInt8]
    /// Checks the `additional-data` of a successful `sasl-outcome` (SCRAM verifies the server
    /// signature here); throwing fails the connection.
    mutating func verifyOutcome(additionalData: [UInt8]?) throws(SASLError)
}

extension SASLClientMechanism {
    /// By default a mechanism expects no challenge: throws ``SASLError/Kind/unexpectedChallenge``.
    public mutating func response(to challenge: [UInt8]) throws(SASLError) -> [UInt8] {
        throw SASLError(.unexpectedChallenge, "\(name) does not expect a challenge")
    }

    /// By default the outcome's additional data is not checked.
    public mutating func verifyOutcome(additionalData: [UInt8]?) throws(SASLError) {}
}

/// What a server mechanism decides after each message from the client.
public enum SASLServerStep: Hashable, Sendable {
    /// Send this `sasl-challenge` and wait for a response.
    case challenge([UInt8])
    /// Authenticated as `identity`; `additionalData` goes into the `sasl-outcome`.
    case success(identity: String, additionalData: [UInt8]?)
    /// Refused, with the outcome code to send.
    case failure(SASLFailure)
}

/// Why a server refused (the `sasl-code` it sends, §5.3.3.6).
public enum SASLFailure: Hashable, Sendable {
    /// Wrong credentials (`auth`).
    case authentication
    /// A fault on the server's side (`sys`).
    case system
}

/// The server side of one SASL mechanism.
public protocol SASLServerMechanism: Sendable {
    /// The mechanism's registered name, offered in `sasl-mechanisms`.
    var name: Symbol { get }
    /// Handles `sasl-init`.
    mutating func start(initialResponse: [UInt8]?, hostname: String?) -> SASLServerStep
    /// Handles a `sasl-response`.
    mutating func step(response: [UInt8]) -> SASLServerStep
}

extension SASLServerMechanism {
    /// By default a mechanism expects no `sasl-response` after `sasl-init`: it refuses with `auth`.
    public mutating func step(response: [UInt8]) -> SASLServerStep { .failure(.authentication) }
}

/// A SASL exchange that cannot go on.
public struct SASLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of SASL failure it is. New kinds may be added without breaking source.
    public struct Kind: Hashable, Sendable {
        enum Base: Hashable, Sendable { case noCommonMechanism, unexpectedChallenge, invalidServerMessage, serverVerificationFailed, authenticationFailed, plaintextRefused, unpreparableCredentials }
        let base: Base
        /// The server offers none of the mechanisms we are willing to use.
        public static let noCommonMechanism = Kind(base: .noCommonMechanism)
        /// A challenge arrived for a mechanism that has none.
        public static let unexpectedChallenge = Kind(base: .unexpectedChallenge)
        /// A challenge or outcome that does not follow the mechanism's grammar.
        public static let invalidServerMessage = Kind(base: .invalidServerMessage)
        /// The server could not prove it knows the password (SCRAM).
        public static let serverVerificationFailed = Kind(base: .serverVerificationFailed)
        /// The server refused our credentials (`sasl-outcome` with a code other than `ok`).
        public static let authenticationFailed = Kind(base: .authenticationFailed)
        /// PLAIN would send a password over a connection without TLS, and the caller did not allow it.
        public static let plaintextRefused = Kind(base: .plaintextRefused)
        /// A user name or password that SASLprep (RFC 4013) cannot prepare: it is not sent.
        public static let unpreparableCredentials = Kind(base: .unpreparableCredentials)
    }

    /// What went wrong.
    public var kind: Kind
    /// Which mechanism and why, for messages; never a credential.
    public var detail: String

    /// An error of `kind`; `detail` must not contain credentials.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The detail message.
    public var description: String { detail }
}

// MARK: - ANONYMOUS, PLAIN, EXTERNAL

/// `ANONYMOUS` (RFC 4505): no credentials; the trace string is sent as the initial response.
public struct AnonymousMechanism: SASLClientMechanism, SASLServerMechanism {
    /// `ANONYMOUS`.
    public var name: Symbol { "ANONYMOUS" }
    /// False: the trace is not a secret.
    public var sendsCleartextSecret: Bool { false }
    /// Free text sent as the initial response (RFC 4505 trace information, e.g. an email address);
    /// may be empty.
    public var trace: String

    /// An anonymous login that sends `trace`, empty by default.
    public init(trace: String = "") { self.trace = trace }

    /// The trace as UTF-8.
    public mutating func initialResponse() throws(SASLError) -> [UInt8]? { Array(trace.utf8) }

    /// Accepts every client, as identity `anonymous`.
    public mutating func start(initialResponse: [UInt8]?, hostname: String?) -> SASLServerStep {
        .success(identity: "anonymous", additionalData: nil)
    }
}

/// `PLAIN` (RFC 4616): `authzid NUL authcid NUL password` in the initial response.
///
/// The password travels in the clear; the connection refuses PLAIN over a socket without TLS
/// unless the caller explicitly allows it (``CleartextCredentials``). ``description`` never
/// shows the password.
public struct PlainMechanism: SASLClientMechanism, CustomStringConvertible {
    /// `PLAIN`.
    public var name: Symbol { "PLAIN" }
    /// True: the password travels as it is.
    public var sendsCleartextSecret: Bool { true }
    /// The authentication identity (`authcid`).
    public var username: String
    /// The password, sent in the clear: use TLS.
    public var password: String
    /// The identity to act as (`authzid`); empty, the default, means the username itself.
    public var authorizationIdentity: String

    /// Credentials for PLAIN; `authorizationIdentity` is empty unless acting for someone else.
    public init(username: String, password: String, authorizationIdentity: String = "") {
        self.username = username
        self.password = password
        self.authorizationIdentity = authorizationIdentity
    }

    /// `authzid NUL authcid NUL password`, each UTF-8.
    public mutating func initialResponse() throws(SASLError) -> [UInt8]? {
        Array(authorizationIdentity.utf8) + [0] + Array(username.utf8) + [0] + Array(password.utf8)
    }

    /// The username and mechanism; the password is shown as `<redacted>`.
    public var description: String { "PLAIN(username: \(username), password: <redacted>)" }
}

/// The server side of `PLAIN`: parses the initial response and asks `check` whether the
/// credentials are valid.
public struct PlainServerMechanism: SASLServerMechanism {
    /// `PLAIN`.
    public var name: Symbol { "PLAIN" }
    /// Decides whether a username and password are valid.
    public let check: @Sendable (_ username: String, _ password: String) -> Bool

    /// A PLAIN server that asks `check` about each client's credentials.
    public init(check: @escaping @Sendable (_ username: String, _ password: String) -> Bool) {
        self.check = check
    }

    /// Checks the initial response, or sends an empty challenge if the client sent none.
    public mutating func start(initialResponse: [UInt8]?, hostname: String?) -> SASLServerStep {
        guard let response = initialResponse else { return .challenge([]) }
        return step(response: response)
    }

    /// Parses `authzid NUL authcid NUL password`; success names the username as identity, `authzid`
    /// is ignored.
    public mutating func step(response: [UInt8]) -> SASLServerStep {
        let parts = response.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3,
              let username = String(validating: parts[1], as: UTF8.self),
              let password = String(validating: parts[2], as: UTF8.self)
        else { return .failure(.authentication) }
        return check(username, password) ? .success(identity: username, additionalData: nil) : .failure(.authentication)
    }
}

/// `EXTERNAL` (RFC 4422 appendix A): the identity comes from outside SASL, typically the client's
/// TLS certificate; the initial response optionally names an authorization identity.
public struct ExternalMechanism: SASLClientMechanism {
    /// `EXTERNAL`.
    public var name: Symbol { "EXTERNAL" }
    /// False: the credentials are outside SASL (a TLS client certificate).
    public var sendsCleartextSecret: Bool { false }
    /// The identity to act as; empty, the default, means the one the external credentials establish.
    public var authorizationIdentity: String

    /// An EXTERNAL login, optionally asking to act as `authorizationIdentity`.
    public init(authorizationIdentity: String = "") { self.authorizationIdentity = authorizationIdentity }

    /// The authorization identity as UTF-8, empty if none.
    public mutating func initialResponse() throws(SASLError) -> [UInt8]? { Array(authorizationIdentity.utf8) }
}
