import AMQPProtocol
import Foundation
import Testing

@testable import AMQPTransport

@Suite("SCRAM-SHA-256 (RFC 7677)")
struct SCRAMTests {
    // RFC 7677 §3: user "user", password "pencil".
    let clientNonce = "rOprNGfwEbeRWgbNEkqO"
    let serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    let salt = [UInt8](Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)

    @Test("the client reproduces RFC 7677's example exchange")
    func rfcVector() throws {
        var client = SCRAMSHA256ClientMechanism(username: "user", password: "pencil", clientNonce: clientNonce)
        #expect(String(decoding: try client.initialResponse()!, as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        let clientFinal = try client.response(to: Array(serverFirst.utf8))
        #expect(String(decoding: clientFinal, as: UTF8.self)
            == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try client.verifyOutcome(additionalData: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        #expect(throws: SASLError.self) {
            try client.verifyOutcome(additionalData: Array("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        }
    }

    @Test("the server side authenticates the client and proves itself")
    func serverSide() throws {
        let stored = try SCRAMSHA256Credentials(password: "pencil", salt: salt, iterations: 4096)
        var server = SCRAMSHA256ServerMechanism(serverNonce: serverNonce) { $0 == "user" ? stored : nil }
        var client = SCRAMSHA256ClientMechanism(username: "user", password: "pencil", clientNonce: clientNonce)
        guard case .challenge(let serverFirst) = server.start(initialResponse: try client.initialResponse(), hostname: nil) else {
            Issue.record("no challenge")
            return
        }
        let clientFinal = try client.response(to: serverFirst)
        guard case .success(let identity, let additionalData) = server.step(response: clientFinal) else {
            Issue.record("refused")
            return
        }
        #expect(identity == "user")
        #expect(String(decoding: additionalData!, as: UTF8.self) == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        try client.verifyOutcome(additionalData: additionalData)
    }

    @Test("a wrong password or an unknown user is refused")
    func refusals() throws {
        let stored = try SCRAMSHA256Credentials(password: "pencil", salt: salt)
        for (user, password) in [("user", "crayon"), ("other", "pencil")] {
            var server = SCRAMSHA256ServerMechanism { $0 == "user" ? stored : nil }
            var client = SCRAMSHA256ClientMechanism(username: user, password: password)
            switch server.start(initialResponse: try client.initialResponse(), hostname: nil) {
            case .challenge(let first):
                #expect(server.step(response: try client.response(to: first)) == .failure(.authentication))
            case .failure:
                #expect(user == "other")
            case .success:
                Issue.record("accepted \(user)")
            }
        }
    }

    @Test("usernames with '=' and ',' are escaped (RFC 5802 §5.1)")
    func escaping() {
        #expect(SCRAM.saslName("a=b,c") == "a=3Db=2Cc")
        #expect(SCRAM.unescape("a=3Db=2Cc") == "a=b,c")
        #expect(SCRAM.unescape("a=3") == nil)
    }

    @Test("descriptions never show the password")
    func redaction() {
        #expect(!"\(SCRAMSHA256ClientMechanism(username: "u", password: "s3cret"))".contains("s3cret"))
        #expect(!"\(PlainMechanism(username: "u", password: "s3cret"))".contains("s3cret"))
    }

    @Test("Hi() is PBKDF2-HMAC-SHA-256: RFC 7914 §11's test vector, and one round")
    func pbkdf2Vectors() throws {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1, dkLen=64); the first 32 bytes.
        let oneRound = try SCRAM.saltedPassword(Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1)
        #expect(oneRound.map { String(format: "%02x", $0) }.joined() == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")
        // RFC 7914 §11: P="Password", S="NaCl", c=80000, first 32 bytes of dkLen=64.
        let many = try SCRAM.saltedPassword(Array("Password".utf8), salt: Array("NaCl".utf8), iterations: 80000)
        #expect(many.map { String(format: "%02x", $0) }.joined() == "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56")
        #expect(throws: SASLError.self) { try SCRAM.saltedPassword([], salt: [], iterations: 0) }
    }

    @Test("SASLprep: RFC 4013 §3's examples, and a refusal that names the character, not the secret")
    func saslPrep() throws {
        #expect(try SASLprep.prepare("I\u{00AD}X") == "IX")
        #expect(try SASLprep.prepare("user") == "user")
        #expect(try SASLprep.prepare("USER") == "USER")
        #expect(try SASLprep.prepare("\u{00AA}") == "a")
        #expect(try SASLprep.prepare("\u{2168}") == "IX")
        #expect(try SASLprep.prepare("a\u{00A0}b") == "a b")
        // Composed and decomposed é prepare to the same string (NFKC).
        #expect(try SASLprep.prepare("caf\u{0065}\u{0301}") == "caf\u{00E9}")
        #expect(throws: SASLprepError.self) { try SASLprep.prepare("\u{0007}") }
        #expect(throws: SASLprepError.self) { try SASLprep.prepare("\u{E000}secret") }
        // The bidirectional rule is not implemented: right-to-left text is refused, never mangled.
        do {
            _ = try SASLprep.prepare("\u{0627}\u{0031}")
            Issue.record("prepared right-to-left text")
        } catch {
            #expect(error.description.contains("U+627"))
        }
    }

    @Test("SCRAM prepares both sides: a decomposed password authenticates against composed stored keys")
    func scramPreparesPasswords() throws {
        let stored = try SCRAMSHA256Credentials(password: "caf\u{00E9}", salt: salt)
        var server = SCRAMSHA256ServerMechanism { $0 == "IX" ? stored : nil }
        var client = SCRAMSHA256ClientMechanism(username: "I\u{00AD}X", password: "cafe\u{0301}")
        guard case .challenge(let first) = server.start(initialResponse: try client.initialResponse(), hostname: nil) else {
            Issue.record("no challenge")
            return
        }
        guard case .success(let identity, _) = server.step(response: try client.response(to: first)) else {
            Issue.record("refused")
            return
        }
        #expect(identity == "IX")
        var unpreparable = SCRAMSHA256ClientMechanism(username: "bad\u{0007}", password: "x")
        do {
            _ = try unpreparable.initialResponse()
            Issue.record("sent an unpreparable user name")
        } catch {
            #expect(error.kind == .unpreparableCredentials)
        }
    }

    @Test("PLAIN from the transport's options sends prepared credentials, and refuses unpreparable ones")
    func plainPrepared() throws {
        var plain = SASLpreppedPlainMechanism(username: "I\u{00AD}X", password: "\u{2168}")
        #expect(try plain.initialResponse() == [0] + Array("IX".utf8) + [0] + Array("IX".utf8))
        var refused = SASLpreppedPlainMechanism(username: "u", password: "\u{FFFF}")
        #expect(throws: SASLError.self) { try refused.initialResponse() }
        #expect(!"\(refused)".contains("\u{FFFF}"))
    }
}
