import AMQPCodec
import AMQPProtocol
import Crypto
import Foundation
import _CryptoExtras

/// `SCRAM-SHA-256` (RFC 5802, RFC 7677): the password never crosses the wire, and the server
/// proves it knows it too. `sasl-init` carries the client-first message, the `sasl-challenge` the
/// server-first, the `sasl-response` the client-final, and the `sasl-outcome`'s additional data the
/// server-final (a server that sends it as a second challenge instead is accepted).
public struct SCRAMSHA256ClientMechanism: SASLClientMechanism, CustomStringConvertible {
    /// `SCRAM-SHA-256`.
    public var name: Symbol { "SCRAM-SHA-256" }
    /// False: only proofs that cannot be replayed cross the wire.
    public var sendsCleartextSecret: Bool { false }
    /// The user name, sent with `=` and `,` escaped (RFC 5802 §5.1).
    public let username: String
    private let password: String
    private let clientNonce: String
    private var clientFirstBare = ""
    /// What the server's signature must authenticate, once the proof is sent.
    private var expectedServerSignature: (serverKey: [UInt8], authMessage: [UInt8])? = nil

    /// - Parameters:
    ///   - username: the user name, prepared with SASLprep.
    ///   - password: the password, prepared with SASLprep; never logged.
    ///   - clientNonce: fixed only in tests; by default 24 random bytes in base64.
    public init(username: String, password: String, clientNonce: String? = nil) {
        self.username = username
        self.password = password
        self.clientNonce = clientNonce ?? SCRAM.randomNonce()
    }

    /// The user name; the password is redacted.
    public var description: String { "SCRAM-SHA-256(username: \(username), password: <redacted>)" }

    /// The client-first message (RFC 5802 §5.1), with a random nonce and the user name prepared
    /// with SASLprep.
    public mutating func initialResponse() throws(SASLError) -> [UInt8]? {
        clientFirstBare = "n=\(SCRAM.saslName(try SCRAM.prepared(username))),r=\(clientNonce)"
        return Array(("n,," + clientFirstBare).utf8)
    }

    /// The client-final message with the proof, for the server-first challenge; throws on a malformed
    /// challenge or a nonce that does not extend ours.
    public mutating func response(to challenge: [UInt8]) throws(SASLError) -> [UInt8] {
        if expectedServerSignature != nil {
            // The server sent server-final as a challenge: verify it and answer with nothing.
            try verifyOutcome(additionalData: challenge)
            return []
        }
        guard let serverFirst = String(validating: challenge, as: UTF8.self) else {
            throw SASLError(.invalidServerMessage, "server-first message is not UTF-8")
        }
        let attributes = SCRAM.attributes(serverFirst)
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
              let saltText = attributes["s"], let salt = Data(base64Encoded: saltText),
              let iterationsText = attributes["i"], let iterations = Int(iterationsText), iterations >= 1, iterations <= 1_000_000
        else {
            throw SASLError(.invalidServerMessage, "server-first message is malformed")
        }
        let keys = try SCRAM.Keys(password: try SCRAM.prepared(password), salt: [UInt8](salt), iterations: iterations)
        let clientFinalWithoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(clientFinalWithoutProof)".utf8)
        let clientSignature = SCRAM.hmac(key: keys.storedKey, authMessage)
        let proof = zip(keys.clientKey, clientSignature).map { $0 ^ $1 }
        expectedServerSignature = (keys.serverKey, authMessage)
        return Array("\(clientFinalWithoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// Checks the server's signature (server-final message); a wrong one fails authentication.
    public mutating func verifyOutcome(additionalData: [UInt8]?) throws(SASLError) {
        guard let expected = expectedServerSignature else {
            throw SASLError(.serverVerificationFailed, "the server accepted before the SCRAM exchange finished")
        }
        guard let data = additionalData, let text = String(validating: data, as: UTF8.self),
              let v = SCRAM.attributes(text)["v"], let signature = Data(base64Encoded: v)
        else {
            throw SASLError(.serverVerificationFailed, "the server did not send its SCRAM signature")
        }
        // In constant time, so that the time a wrong signature takes says nothing about the right one.
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: expected.authMessage,
                                                     using: SymmetricKey(data: expected.serverKey)) else {
            throw SASLError(.serverVerificationFailed, "the server's SCRAM signature is wrong: it does not know the password")
        }
    }
}

/// The server side of `SCRAM-SHA-256`. `credentials` returns the stored keys for a user (derive
/// them once with ``SCRAMSHA256Credentials/init(password:salt:iterations:)``), or `nil`.
public struct SCRAMSHA256ServerMechanism: SASLServerMechanism {
    /// `SCRAM-SHA-256`.
    public var name: Symbol { "SCRAM-SHA-256" }
    /// Looks up a user's stored credentials; `nil` for an unknown user.
    public let credentials: @Sendable (_ username: String) -> SCRAMSHA256Credentials?
    private let serverNonce: String
    private var state: State = .initial

    enum State: Sendable {
        case initial
        case sentServerFirst(username: String, nonce: String, clientFirstBare: String, serverFirst: String, credentials: SCRAMSHA256Credentials)
        case done
    }

    /// A server mechanism; `serverNonce` fixes the nonce for tests (random otherwise).
    public init(serverNonce: String? = nil, credentials: @escaping @Sendable (_ username: String) -> SCRAMSHA256Credentials?) {
        self.credentials = credentials
        self.serverNonce = serverNonce ?? SCRAM.randomNonce()
    }

    /// Reads the client-first message and answers with the server-first challenge.
    public mutating func start(initialResponse: [UInt8]?, hostname: String?) -> SASLServerStep {
        guard let data = initialResponse, let text = String(validating: data, as: UTF8.self), text.hasPrefix("n,") else {
            // Channel binding ("p=") is not offered, and "y," means the client thinks we could: refuse both.
            return .failure(.authentication)
        }
        let afterFlag = text.dropFirst(2)
        guard let comma = afterFlag.firstIndex(of: ",") else { return .failure(.authentication) }
        let bare = String(afterFlag[afterFlag.index(after: comma)...])
        let attributes = SCRAM.attributes(bare)
        guard let name = attributes["n"], let escaped = SCRAM.unescape(name), let username = try? SASLprep.prepare(escaped),
              let clientNonce = attributes["r"], !clientNonce.isEmpty, let stored = credentials(username)
        else { return .failure(.authentication) }
        let nonce = clientNonce + serverNonce
        let serverFirst = "r=\(nonce),s=\(Data(stored.salt).base64EncodedString()),i=\(stored.iterations)"
        state = .sentServerFirst(username: username, nonce: nonce, clientFirstBare: bare, serverFirst: serverFirst, credentials: stored)
        return .challenge(Array(serverFirst.utf8))
    }

    /// Verifies the client proof and answers with the server signature, or fails.
    public mutating func step(response: [UInt8]) -> SASLServerStep {
        guard case .sentServerFirst(let username, let nonce, let clientFirstBare, let serverFirst, let stored) = state else {
            return .failure(.authentication)
        }
        state = .done
        guard let text = String(validating: response, as: UTF8.self), let proofRange = text.range(of: ",p=") else {
            return .failure(.authentication)
        }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let attributes = SCRAM.attributes(text)
        guard attributes["c"] == "biws", attributes["r"] == nonce,
              let proofText = attributes["p"], let proof = Data(base64Encoded: proofText), proof.count == 32
        else { return .failure(.authentication) }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = SCRAM.hmac(key: stored.storedKey, authMessage)
        let clientKey = zip([UInt8](proof), clientSignature).map { $0 ^ $1 }
        // Crypto compares digests in constant time.
        guard SHA256.hash(data: clientKey) == stored.storedKey else { return .failure(.authentication) }
        let serverSignature = SCRAM.hmac(key: stored.serverKey, authMessage)
        return .success(identity: username, additionalData: Array("v=\(Data(serverSignature).base64EncodedString())".utf8))
    }
}

/// What a SCRAM server stores for a user instead of the password (RFC 5802 §3).
public struct SCRAMSHA256Credentials: Hashable, Sendable {
    /// The salt the password was hashed with.
    public var salt: [UInt8]
    /// PBKDF2 iterations (4096 by default).
    public var iterations: Int
    /// H(ClientKey), as RFC 5802 stores it.
    public var storedKey: [UInt8]
    /// HMAC(SaltedPassword, "Server Key").
    public var serverKey: [UInt8]

    /// Credentials as stored (never the password itself).
    public init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// Derives the stored keys from a password (SASLprep, then PBKDF2-HMAC-SHA-256); throws for a
    /// password SASLprep refuses or an iteration count below 1.
    public init(password: String, salt: [UInt8], iterations: Int = 4096) throws(SASLError) {
        let keys = try SCRAM.Keys(password: try SCRAM.prepared(password), salt: salt, iterations: iterations)
        self.init(salt: salt, iterations: iterations, storedKey: keys.storedKey, serverKey: keys.serverKey)
    }
}

enum SCRAM {
    struct Keys {
        let clientKey: [UInt8]
        let storedKey: [UInt8]
        let serverKey: [UInt8]

        init(password: String, salt: [UInt8], iterations: Int) throws(SASLError) {
            let salted = try SCRAM.saltedPassword(Array(password.utf8), salt: salt, iterations: iterations)
            clientKey = SCRAM.hmac(key: salted, Array("Client Key".utf8))
            storedKey = SCRAM.sha256(clientKey)
            serverKey = SCRAM.hmac(key: salted, Array("Server Key".utf8))
        }
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }

    /// RFC 5802's Hi(): PBKDF2 with HMAC-SHA-256, one 32-byte block. The unchecked-rounds entry
    /// point, because SCRAM's iteration count is the server's choice (4,096 by RFC 7677's
    /// example) and far below the 210,000 the checked one insists on for password storage.
    static func saltedPassword(_ password: [UInt8], salt: [UInt8], iterations: Int) throws(SASLError) -> [UInt8] {
        guard iterations >= 1 else { throw SASLError(.invalidServerMessage, "SCRAM iteration count \(iterations) is below 1") }
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(from: password, salt: salt, using: .sha256, outputByteCount: 32,
                                                        unsafeUncheckedRounds: iterations)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw SASLError(.invalidServerMessage, "PBKDF2 failed: \(error)")
        }
    }

    /// `credential` prepared with SASLprep, as RFC 5802 §2.2's Normalize() requires.
    static func prepared(_ credential: String) throws(SASLError) -> String {
        do {
            return try SASLprep.prepare(credential)
        } catch {
            throw SASLError(.unpreparableCredentials, "\(error)")
        }
    }

    /// `a=value` pairs separated by commas.
    static func attributes(_ message: String) -> [String: String] {
        var out = [String: String]()
        for part in message.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count >= 2, part.dropFirst().first == "=" else { continue }
            let key = String(part.prefix(1))
            if out[key] == nil { out[key] = String(part.dropFirst(2)) }
        }
        return out
    }

    /// RFC 5802 §5.1: `=` and `,` in a username are written `=3D` and `=2C`.
    static func saslName(_ username: String) -> String {
        username.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
    }

    static func unescape(_ saslName: String) -> String? {
        var out = ""
        var rest = Substring(saslName)
        while let eq = rest.firstIndex(of: "=") {
            out += rest[..<eq]
            let code = rest[eq...].prefix(3)
            switch code {
            case "=3D": out += "="
            case "=2C": out += ","
            default: return nil
            }
            rest = rest[rest.index(eq, offsetBy: 3)...]
        }
        return out + rest
    }

    static func randomNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
    }
}
