import Foundation

/// A self-signed certificate and its key, made by `openssl` for one test (TOOLCHAIN.md): valid for
/// one day for the names given (by default `localhost` and `127.0.0.1`).
public struct TestCertificate: Sendable {
    public let certificatePath: String
    public let keyPath: String

    public static func generate(commonName: String = "localhost", subjectAlternativeNames: String = "DNS:localhost,IP:127.0.0.1") async throws -> TestCertificate {
        let folder = try ScratchFolder.make("certificate")
        let certificate = folder.appendingPathComponent("cert.pem").path
        let key = folder.appendingPathComponent("key.pem").path
        let openssl = try await ExternalProcess.run(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=\(commonName)",
             "-addext", "subjectAltName=\(subjectAlternativeNames)", "-keyout", key, "-out", certificate],
            timeout: .seconds(60)
        )
        guard openssl.exitStatus == 0, FileManager.default.fileExists(atPath: certificate) else {
            throw PeerError("openssl could not make a test certificate\n\(openssl.outputTail)")
        }
        return TestCertificate(certificatePath: certificate, keyPath: key)
    }
}
