import AMQPEventHubs
@testable import AMQPEventHubsEmulator
@testable import AMQPEventHubsIdentity
import Foundation
import Testing
import _CryptoExtras

@Suite("Microsoft Entra ID credentials", .serialized, .timeLimit(.minutes(2)))
struct EntraIDCredentialTests {
    static let scope = EntraIDTokenProvider.eventHubsScope

    @Test("client secret: the documented client-credentials request; the token cached, and fetched again near its expiry")
    func clientSecret() async throws {
        let server = try await TokenEndpointServer.start()
        let credential = ClientSecretCredential(tenantID: "contoso-tenant", clientID: "app-1", clientSecret: "s3cr3t value&=", authorityHost: server.url + "/")
        server.answer(.token("token-1", expiresIn: 3600))
        let provider = EntraIDTokenProvider(credential)
        let first = try await provider.token(forAudience: "sb://ns.servicebus.windows.net/eh1")
        #expect(first.token == "token-1" && first.type == .jsonWebToken)
        #expect(abs(first.expiresOn.timeIntervalSinceNow - 3600) < 60)
        let request = try #require(server.requests.first)
        #expect(request.method == "POST" && request.path == "/contoso-tenant/oauth2/v2.0/token")
        #expect(request.form == ["client_id": "app-1", "client_secret": "s3cr3t value&=", "scope": "https://eventhubs.azure.net/.default",
                                 "grant_type": "client_credentials"])
        #expect(request.headers["content-type"] == "application/x-www-form-urlencoded")
        // Cached: the second audience needs no request.
        _ = try await provider.token(forAudience: "sb://ns.servicebus.windows.net/eh1/consumergroups/$default")
        #expect(server.requests.count == 1)
        // A token within the refresh margin is fetched again.
        server.answer(.token("short", expiresIn: 60))
        let shortLived = EntraIDTokenProvider(credential)
        _ = try await shortLived.token(forAudience: "a")
        _ = try await shortLived.token(forAudience: "a")
        #expect(server.requests.count == 3)
        await server.stop()
    }

    @Test("garbage and 500s fail the credential with a clear error, without the secret; the chain moves on to the next")
    func failuresAndChain() async throws {
        let server = try await TokenEndpointServer.start()
        let secret = ClientSecretCredential(tenantID: "t", clientID: "c", clientSecret: "do-not-print-me", authorityHost: server.url)
        server.answer(.status(500, body: #"{"error":"temporarily_unavailable","error_description":"AADSTS50001: try later"}"#))
        do {
            _ = try await secret.fetchToken(scope: Self.scope)
            Issue.record("a 500 gave a token")
        } catch {
            #expect(error.credential == "ClientSecretCredential")
            #expect(error.reason.contains("500") && error.reason.contains("AADSTS50001"))
            #expect(!error.description.contains("do-not-print-me"))
        }
        server.answer(.status(200, body: "<html>not json</html>"))
        await #expect(throws: EntraIDError.self) { _ = try await secret.fetchToken(scope: Self.scope) }
        server.answer(.status(200, body: #"{"token_type":"Bearer"}"#))
        await #expect(throws: EntraIDError.self) { _ = try await secret.fetchToken(scope: Self.scope) }

        // Workload identity after it: the federated token from the file AKS mounts.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("federated-\(UUID().uuidString)")
        try "federated.jwt.value\n".write(to: file, atomically: true, encoding: .utf8)
        let workload = WorkloadIdentityCredential(environment: [
            "AZURE_TENANT_ID": "tenant-w", "AZURE_CLIENT_ID": "client-w", "AZURE_FEDERATED_TOKEN_FILE": file.path,
            "AZURE_AUTHORITY_HOST": server.url,
        ])
        let unconfigured = WorkloadIdentityCredential(environment: [:])
        let chain = ChainedTokenCredential([unconfigured, secret, workload])
        let before = server.requests.count
        server.answer(.status(503, body: "garbage"))
        do {
            _ = try await chain.fetchToken(scope: Self.scope)
            Issue.record("every credential failed, yet a token came")
        } catch {
            #expect(error.attempts.map(\.credential) == ["WorkloadIdentityCredential", "ClientSecretCredential", "WorkloadIdentityCredential"])
            #expect(error.attempts[0].reason.contains("AZURE_TENANT_ID"))
            #expect(error.attempts[1].reason.contains("503"))
        }
        // The endpoint recovers for the workload identity's request only.
        server.answer(.token("from-workload", expiresIn: 3600))
        let chain2 = ChainedTokenCredential([unconfigured, workload])
        let token = try await chain2.fetchToken(scope: Self.scope)
        #expect(token.token == "from-workload")
        let request = try #require(server.requests.last)
        #expect(server.requests.count == before + 3)
        #expect(request.path == "/tenant-w/oauth2/v2.0/token")
        #expect(request.form["client_assertion"] == "federated.jwt.value")
        #expect(request.form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(request.form["client_id"] == "client-w" && request.form["grant_type"] == "client_credentials")
        try? FileManager.default.removeItem(at: file)
        await server.stop()
    }

    @Test("client certificate: an RS256 assertion with the certificate's x5t, for the token endpoint, naming the application")
    func clientCertificate() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func openssl(_ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.currentDirectoryURL = folder
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "openssl \(arguments)")
            return String(decoding: data, as: UTF8.self)
        }
        _ = try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=app", "-keyout", "key.pem", "-out", "cert.pem"])
        // openssl's own SHA-1 fingerprint of the certificate: what x5t must carry.
        let fingerprint = try openssl(["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"])
        let hex = fingerprint.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "") } ?? ""
        let thumbprint = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
        }
        #expect(thumbprint.count == 20)
        let keyPEM = try String(contentsOf: folder.appendingPathComponent("key.pem"), encoding: .utf8)
        let certificatePEM = try String(contentsOf: folder.appendingPathComponent("cert.pem"), encoding: .utf8)

        let server = try await TokenEndpointServer.start()
        server.answer(.token("cert-token", expiresIn: 3600))
        let credential = try ClientCertificateCredential(tenantID: "tenant-c", clientID: "app-c", certificatePEM: certificatePEM,
                                                         privateKeyPEM: keyPEM, authorityHost: server.url)
        #expect(try await credential.fetchToken(scope: Self.scope).token == "cert-token")
        let request = try #require(server.requests.last)
        #expect(request.path == "/tenant-c/oauth2/v2.0/token" && request.form["grant_type"] == "client_credentials")
        #expect(request.form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        let parts = try #require(request.form["client_assertion"]).split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        func decode(_ text: String) -> Data? {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while base64.count % 4 != 0 { base64 += "=" }
            return Data(base64Encoded: base64)
        }
        let headerData = try #require(decode(parts[0]))
        let claimsData = try #require(decode(parts[1]))
        let header = try #require(try JSONSerialization.jsonObject(with: headerData) as? [String: Any])
        let claims = try #require(try JSONSerialization.jsonObject(with: claimsData) as? [String: Any])
        #expect(header["alg"] as? String == "RS256")
        #expect(header["x5t"] as? String == ClientCertificateCredential.base64URL(thumbprint))
        #expect(claims["aud"] as? String == server.url + "/tenant-c/oauth2/v2.0/token")
        #expect(claims["iss"] as? String == "app-c" && claims["sub"] as? String == "app-c")
        let nbf = try #require(claims["nbf"] as? Int), exp = try #require(claims["exp"] as? Int)
        #expect(exp - nbf == 600 && abs(nbf - Int(Date().timeIntervalSince1970)) < 60)
        let publicKey = try _RSA.Signing.PrivateKey(pemRepresentation: keyPEM).publicKey
        let signatureData = try #require(decode(parts[2]))
        let signature = _RSA.Signing.RSASignature(rawRepresentation: signatureData)
        #expect(publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5))

        #expect(throws: EntraIDError.self) { _ = try ClientCertificateCredential(tenantID: "t", clientID: "c", certificatePEM: "garbage", privateKeyPEM: keyPEM) }
        await server.stop()
    }

    @Test("DefaultAzureCredential: client secret, then workload identity, then managed identity; the one that worked is kept")
    func defaultChain() async throws {
        let server = try await TokenEndpointServer.start()
        server.answer(.status(401, body: #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret"}"#),
                      forPath: "/tenant-d/oauth2/v2.0/token")
        server.answer(.managedIdentityToken("from-app-service", expiresOn: Int(Date().timeIntervalSince1970) + 3600), forPath: "/msi/token")
        let chain = DefaultAzureCredential(environment: [
            "AZURE_TENANT_ID": "tenant-d", "AZURE_CLIENT_ID": "client-d", "AZURE_CLIENT_SECRET": "wrong", "AZURE_AUTHORITY_HOST": server.url,
            "IDENTITY_ENDPOINT": server.url + "/msi/token", "IDENTITY_HEADER": "h",
        ])
        #expect(chain.credentials.map(\.name) == ["ClientSecretCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential", "AzureCLICredential"])
        let token = try await chain.fetchToken(scope: Self.scope)
        #expect(token.token == "from-app-service")
        #expect(server.requests.map(\.path) == ["/tenant-d/oauth2/v2.0/token", "/msi/token"])
        _ = try await chain.fetchToken(scope: Self.scope)
        #expect(server.requests.map(\.path).last == "/msi/token" && server.requests.count == 3, "the managed identity is asked directly")
        await server.stop()
    }

    @Test("managed identity: IMDS and App Service requests as documented; expires_on read as seconds since 1970")
    func managedIdentity() async throws {
        let server = try await TokenEndpointServer.start()
        let expiry = Int(Date().timeIntervalSince1970) + 7200
        server.answer(.managedIdentityToken("mi-token", expiresOn: expiry))
        let imds = ManagedIdentityCredential(clientID: "user-assigned", endpoint: .instanceMetadata(url: server.url + "/metadata/identity/oauth2/token"))
        let token = try await imds.fetchToken(scope: Self.scope)
        #expect(token.token == "mi-token" && Int(token.expiresOn.timeIntervalSince1970) == expiry)
        var request = try #require(server.requests.last)
        #expect(request.method == "GET" && request.path == "/metadata/identity/oauth2/token")
        #expect(request.query == ["api-version": "2018-02-01", "resource": "https://eventhubs.azure.net", "client_id": "user-assigned"])
        #expect(request.headers["metadata"] == "true")

        let appService = ManagedIdentityCredential(environment: ["IDENTITY_ENDPOINT": server.url + "/msi/token", "IDENTITY_HEADER": "header-secret"])
        _ = try await appService.fetchToken(scope: Self.scope)
        request = try #require(server.requests.last)
        #expect(request.path == "/msi/token" && request.query["api-version"] == "2019-08-01" && request.query["client_id"] == nil)
        #expect(request.headers["x-identity-header"] == "header-secret")
        await server.stop()
    }

    @Test("Azure CLI: az account get-access-token, its JSON read; a failing az is a clear error")
    func azureCLI() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("az-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let az = folder.appendingPathComponent("az")
        let expiry = Int(Date().timeIntervalSince1970) + 1800
        try """
        #!/bin/sh
        echo "$@" > "\(folder.path)/args"
        echo '{"accessToken": "cli-token", "expiresOn": "2030-01-01 00:00:00.000000", "expires_on": \(expiry), "tenant": "t", "tokenType": "Bearer"}'
        """.write(to: az, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: az.path)
        let token = try await AzureCLICredential(executable: az.path).fetchToken(scope: Self.scope)
        #expect(token.token == "cli-token" && Int(token.expiresOn.timeIntervalSince1970) == expiry)
        let args = try String(contentsOf: folder.appendingPathComponent("args"), encoding: .utf8)
        #expect(args.trimmingCharacters(in: .whitespacesAndNewlines) == "account get-access-token --output json --resource https://eventhubs.azure.net")

        let failing = folder.appendingPathComponent("az-failing")
        try "#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n".write(to: failing, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: failing.path)
        do {
            _ = try await AzureCLICredential(executable: failing.path).fetchToken(scope: Self.scope)
            Issue.record("a failing az gave a token")
        } catch {
            #expect(error.credential == "AzureCLICredential" && error.reason.contains("az login"))
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// A JWT as Entra ID issues it for Event Hubs, RS256-signed with `key`.
    static func jwt(_ key: _RSA.Signing.PrivateKey, expiresIn: Int, audience: String = "https://eventhubs.azure.net") throws -> String {
        func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let now = Int(Date().timeIntervalSince1970)
        let header = base64URL(Data(#"{"alg":"RS256","typ":"JWT"}"#.utf8))
        let claims = base64URL(Data(#"{"aud":"\#(audience)","iss":"https://sts.windows.net/tenant-e2e/","nbf":\#(now - 10),"exp":\#(now + expiresIn)}"#.utf8))
        let signature = try key.signature(for: Data("\(header).\(claims)".utf8), padding: .insecurePKCS1v1_5)
        return "\(header).\(claims).\(base64URL(signature.rawRepresentation))"
    }

    @Test("end to end: the emulator, configured with the issuer's key, accepts the Entra ID token on $cbs; a foreign or expired one is refused")
    func endToEnd() async throws {
        let server = try await TokenEndpointServer.start()
        let issuerKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let otherKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        var configuration = EmulatorConfiguration(port: 0, hubs: [.init(name: "eh1", partitionCount: 2)])
        configuration.healthPort = nil
        configuration.jwtIssuers = [JWTIssuer(key: .rsa(publicKeyPEM: issuerKey.publicKey.pemRepresentation), issuer: "https://sts.windows.net/tenant-e2e/")]
        let emulator = try await EventHubsEmulator.start(configuration)
        func publish(_ text: String) async throws {
            let credential = EntraIDTokenProvider(ClientSecretCredential(tenantID: "tenant-e2e", clientID: "c", clientSecret: "s", authorityHost: server.url))
            var options = EventHubsClientOptions(retry: EventHubsRetryOptions(maxRetries: 1, delay: .milliseconds(10), maxDelay: .milliseconds(50)))
            options.transport = .amqp
            let client = EventHubsClient(
                endpoint: EventHubsEndpoint(fullyQualifiedNamespace: "localhost", eventHubName: "eh1", port: emulator.port, usesDevelopmentEmulator: true),
                credential: .tokenProvider(credential), options: options)
            defer { Task { await client.close() } }
            try await client.makeProducer().send(EventData(text), options: .partition("1"))
        }
        server.answer(.token(try Self.jwt(issuerKey, expiresIn: 3600), expiresIn: 3600))
        try await publish("signed in with Entra ID")
        #expect(emulator.eventCount(hub: "eh1", partition: 1) == 1)

        server.answer(.token(try Self.jwt(otherKey, expiresIn: 3600), expiresIn: 3600))
        await #expect(throws: EventHubsError.self) { try await publish("foreign") }
        server.answer(.token(try Self.jwt(issuerKey, expiresIn: -60), expiresIn: 3600))
        await #expect(throws: EventHubsError.self) { try await publish("expired") }
        server.answer(.token(try Self.jwt(issuerKey, expiresIn: 3600, audience: "https://storage.azure.com"), expiresIn: 3600))
        await #expect(throws: EventHubsError.self) { try await publish("storage audience") }
        #expect(emulator.eventCount(hub: "eh1", partition: 1) == 1)

        // The verifier alone, on the shapes it refuses.
        let issuers = configuration.jwtIssuers
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if case .valid = JWTIssuer.verify("not.a.jwt", issuers: issuers, now: now) { Issue.record("garbage was accepted") }
        let good = try Self.jwt(issuerKey, expiresIn: 3600)
        guard case .valid = JWTIssuer.verify(good, issuers: issuers, now: now) else {
            Issue.record("a good token was refused")
            return
        }
        let tampered = good.split(separator: ".").enumerated().map { $0.offset == 1 ? String($0.element.dropLast()) + "A" : String($0.element) }.joined(separator: ".")
        if case .valid = JWTIssuer.verify(tampered, issuers: issuers, now: now) { Issue.record("a tampered token was accepted") }
        try await emulator.stop()
        await server.stop()
    }
}
