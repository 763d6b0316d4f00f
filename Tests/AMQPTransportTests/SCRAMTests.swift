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
        let stored = SCRAMSHA256Credentials(password: "pencil", salt: salt, iterations: 4096)
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
        let stored = SCRAMSHA256Credentials(password: "pencil", salt: salt)
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
}
