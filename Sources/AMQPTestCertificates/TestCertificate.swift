import AMQPTestSupport
import Crypto
import Foundation
import SwiftASN1
import X509

/// A self-signed certificate and its key for one test, made in-process with swift-certificates
/// (no `openssl` to install or to run): ECDSA P-256, valid from an hour ago for one day, for the
/// names given (by default `localhost` and `127.0.0.1`), usable by a server and by a client
/// (mutual TLS). It is its own issuer, so trusting the certificate file is trusting it.
public struct TestCertificate: Sendable {
    /// The certificate, PEM.
    public let certificatePath: String
    /// Its private key, PEM (PKCS #8).
    public let keyPath: String

    /// Makes a certificate in a fresh scratch folder.
    public static func generate(
        commonName: String = "localhost", dnsNames: [String] = ["localhost"], ipAddresses: [String] = ["127.0.0.1"]
    ) async throws -> TestCertificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let alternativeNames = try dnsNames.map { GeneralName.dnsName($0) } + ipAddresses.map { text in
            guard let bytes = Self.ipv4Bytes(text) else { throw PeerError("not an IPv4 address: \(text)") }
            return GeneralName.ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(alternativeNames)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        let folder = try ScratchFolder.make("certificate")
        let certificatePath = folder.appendingPathComponent("cert.pem").path
        let keyPath = folder.appendingPathComponent("key.pem").path
        try certificate.serializeAsPEM().pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try Certificate.PrivateKey(key).serializeAsPEM().pemString.write(toFile: keyPath, atomically: true, encoding: .utf8)
        return TestCertificate(certificatePath: certificatePath, keyPath: keyPath)
    }

    static func ipv4Bytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }
}
