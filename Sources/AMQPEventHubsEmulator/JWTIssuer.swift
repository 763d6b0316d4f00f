import Crypto
import Foundation
import _CryptoExtras

/// An issuer of JSON Web Tokens whose tokens the emulator accepts on `$cbs`: a Microsoft Entra ID
/// tenant (or a test's token endpoint) named by its signing key. Entra ID's tokens for Event Hubs
/// grant the whole namespace, so a valid token covers every audience.
public struct JWTIssuer: Sendable {
    /// The public key the issuer signs with.
    public enum Key: Sendable {
        /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256): Entra ID's algorithm.
        case rsa(publicKeyPEM: String)
        /// ES256 (ECDSA P-256 with SHA-256).
        case p256(publicKeyPEM: String)
    }

    public var key: Key
    /// The `iss` claim required, when given (`https://sts.windows.net/<tenant>/`).
    public var issuer: String?
    /// The `aud` claims accepted: Event Hubs' resource by default.
    public var audiences: Set<String>

    public init(key: Key, issuer: String? = nil,
                audiences: Set<String> = ["https://eventhubs.azure.net", "https://eventhubs.azure.net/"]) {
        self.key = key
        self.issuer = issuer
        self.audiences = audiences
    }

    /// Why a token is refused, or when it expires (ms since 1970).
    enum Verdict: Equatable {
        case valid(until: Int64)
        case invalid(String)
    }

    /// Checks the signature, the algorithm the key calls for, `exp`, `nbf`, `aud` and `iss`.
    static func verify(_ token: String, issuers: [JWTIssuer], now: Int64) -> Verdict {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = base64URL(parts[0]), let claimsBytes = base64URL(parts[1]),
              let signature = base64URL(parts[2]),
              let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any],
              let claims = (try? JSONSerialization.jsonObject(with: claimsBytes)) as? [String: Any]
        else { return .invalid("not a signed JSON Web Token") }
        let signed = Data((parts[0] + "." + parts[1]).utf8)
        guard let algorithm = header["alg"] as? String else { return .invalid("the token names no algorithm") }
        var reasons: [String] = []
        for issuer in issuers {
            guard issuer.verifies(signature, of: signed, algorithm: algorithm) else {
                reasons.append("not signed by a configured key with \(algorithm)")
                continue
            }
            func seconds(_ key: String) -> Int64? { (claims[key] as? NSNumber)?.int64Value }
            guard let expiry = seconds("exp") else { return .invalid("the token has no exp") }
            guard expiry * 1000 > now else { return .invalid("the token expired") }
            if let notBefore = seconds("nbf"), notBefore * 1000 > now + 300_000 { return .invalid("the token is not valid yet") }
            let audiences: [String] = (claims["aud"] as? String).map { [$0] } ?? (claims["aud"] as? [String] ?? [])
            guard audiences.contains(where: issuer.audiences.contains) else {
                return .invalid("the token's audience \(audiences) is not Event Hubs'")
            }
            if let wanted = issuer.issuer, claims["iss"] as? String != wanted { return .invalid("the token's issuer is not \(wanted)") }
            return .valid(until: expiry * 1000)
        }
        return .invalid(reasons.first ?? "no issuer is configured")
    }

    func verifies(_ signature: Data, of signed: Data, algorithm: String) -> Bool {
        switch key {
        case .rsa(let pem):
            guard algorithm == "RS256", let key = try? _RSA.Signing.PublicKey(pemRepresentation: pem) else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: signed, padding: .insecurePKCS1v1_5)
        case .p256(let pem):
            guard algorithm == "ES256", let key = try? P256.Signing.PublicKey(pemRepresentation: pem),
                  let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(ecdsa, for: signed)
        }
    }

    static func base64URL(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
