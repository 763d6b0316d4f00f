import AMQPBlobStorage
import Foundation
import Testing

@Suite("Blob Storage wire vocabulary")
struct BlobWireTests {
    let key = try! BlobSharedKey(accountName: StorageConnectionString.developmentAccountName,
                                 base64Key: StorageConnectionString.developmentAccountKey)

    @Test("the string to sign follows the service's layout: positional headers, x-ms- headers, resource, query")
    func stringToSign() {
        let text = key.stringToSign(
            method: "PUT", encodedPath: "/devstoreaccount1/checkpoints/ns/eh1/%24default/ownership/0",
            query: [("comp", "metadata")],
            headers: [("x-ms-version", "2019-07-07"), ("Content-Length", "0"), ("x-ms-date", "Wed, 02 Dec 2026 16:09:54 GMT"),
                      ("If-Match", "\"0x1\""), ("x-ms-meta-ownerid", "a"), ("Host", "127.0.0.1")])
        #expect(text == """
            PUT\n\n\n\n\n\n\n\n"0x1"\n\n\n\nx-ms-date:Wed, 02 Dec 2026 16:09:54 GMT\nx-ms-meta-ownerid:a\nx-ms-version:2019-07-07\n\
            /devstoreaccount1/devstoreaccount1/checkpoints/ns/eh1/%24default/ownership/0\ncomp:metadata
            """)
    }

    @Test("header names sort as the service sorts them, not by code point")
    func headerOrder() {
        // `_` weighs less than a digit; `-` counts only when nothing else differs.
        #expect(BlobSharedKey.headerNameOrder("x-ms-meta-a_1", "x-ms-meta-a1") < 0)
        #expect("x-ms-meta-a1" < "x-ms-meta-a_1", "a code-point sort orders them the other way")
        #expect(BlobSharedKey.headerNameOrder("x-ms-date", "x-ms-version") < 0)
        #expect(BlobSharedKey.headerNameOrder("x-ms-meta-ab", "x-ms-meta-a-b") < 0)
        #expect(BlobSharedKey.headerNameOrder("x-ms-blob-type", "x-ms-blob-type") == 0)
        #expect(BlobSharedKey.headerNameOrder("X-MS-DATE", "x-ms-date") == 0, "letters ignore case")
    }

    @Test("a signature verifies; a changed request or another key does not")
    func signatures() throws {
        let headers: [(name: String, value: String)] = [("x-ms-date", "Wed, 02 Dec 2026 16:09:54 GMT"), ("x-ms-version", "2019-07-07")]
        let authorization = key.authorization(method: "GET", encodedPath: "/devstoreaccount1/c", query: [("restype", "container")], headers: headers)
        #expect(authorization.hasPrefix("SharedKey devstoreaccount1:"))
        #expect(key.verifies(authorization: authorization, method: "GET", encodedPath: "/devstoreaccount1/c", query: [("restype", "container")], headers: headers))
        #expect(!key.verifies(authorization: authorization, method: "PUT", encodedPath: "/devstoreaccount1/c", query: [("restype", "container")], headers: headers))
        #expect(!key.verifies(authorization: authorization, method: "GET", encodedPath: "/devstoreaccount1/c", query: [], headers: headers))
        let other = try BlobSharedKey(accountName: "devstoreaccount1", base64Key: Data("another key".utf8).base64EncodedString())
        #expect(!other.verifies(authorization: authorization, method: "GET", encodedPath: "/devstoreaccount1/c", query: [("restype", "container")], headers: headers))
        #expect(!key.verifies(authorization: "SharedKey devstoreaccount1:not base64!", method: "GET", encodedPath: "/", query: [], headers: []))
    }

    @Test("storage connection strings: Azurite's, a portal one, a SAS one, bad ones")
    func connectionStrings() throws {
        let azurite = try StorageConnectionString(parsing: "UseDevelopmentStorage=true")
        #expect(azurite.blobEndpoint.absoluteString == "http://127.0.0.1:10000/devstoreaccount1")
        #expect(azurite.accountKey == StorageConnectionString.developmentAccountKey)
        let portal = try StorageConnectionString(parsing: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=\(Data("k".utf8).base64EncodedString());EndpointSuffix=core.windows.net")
        #expect(portal.blobEndpoint.absoluteString == "https://acct.blob.core.windows.net")
        #expect(!portal.description.contains(portal.accountKey!), "the key is never printed")
        let local = StorageConnectionString.development(port: 10042)
        #expect(try StorageConnectionString(parsing: local.text) == local)
        let sas = try StorageConnectionString(parsing: "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2021-08-06&sig=abc")
        #expect(sas.accountName == "acct" && sas.sharedAccessSignature == "sv=2021-08-06&sig=abc" && sas.accountKey == nil)
        #expect(throws: StorageConnectionString.Invalid.self) { try StorageConnectionString(parsing: "AccountName=a") }
        #expect(throws: StorageConnectionString.Invalid.self) { try StorageConnectionString(parsing: "AccountName=a;AccountKey=!!") }
        #expect(throws: StorageConnectionString.Invalid.self) { try StorageConnectionString(parsing: "garbage") }
    }

    @Test("RFC 1123 and ISO 8601 dates round-trip; bad ones are nil")
    func dates() {
        let date = Date(timeIntervalSince1970: 1_796_228_994)
        #expect(BlobDate.rfc1123(date) == "Wed, 02 Dec 2026 16:29:54 GMT")
        #expect(BlobDate.parseRFC1123("Wed, 02 Dec 2026 16:29:54 GMT") == date)
        #expect(BlobDate.iso8601(date) == "2026-12-02T16:29:54Z")
        #expect(BlobDate.parseISO8601("2026-12-02T16:29:54Z") == date)
        #expect(BlobDate.parseISO8601("2026-12-02T16:29:54.5Z") == date.addingTimeInterval(0.5))
        #expect(BlobDate.rfc1123(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(BlobDate.rfc1123(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 GMT")
        for bad in ["", "Wed, 32 Dec 2026 16:29:54 GMT", "Wed, 02 Dex 2026 16:29:54 GMT", "Wed, 02 Dec 2026 16:29:54 PST", "Wed 02 Dec"] {
            #expect(BlobDate.parseRFC1123(bad) == nil, "\(bad)")
        }
        for bad in ["2026-13-01", "2026-12-02T16:29:54", "20261202", "2026-12-02T1:2:3Z"] {
            #expect(BlobDate.parseISO8601(bad) == nil, "\(bad)")
        }
    }

    @Test("a listing written as the service writes it reads back; a malformed one is an error")
    func listing() throws {
        let item = BlobListing.Item(name: "ns/eh1/$default/ownership/0 & <1>", etag: "0x8DC1", lastModified: Date(timeIntervalSince1970: 1_796_228_994),
                                    metadata: [("ownerid", "a\"b")])
        let page = BlobListing(serviceEndpoint: "http://127.0.0.1/devstoreaccount1/", containerName: "c", prefix: "ns/", items: [item], nextMarker: "next")
        let read = try BlobListing(xml: Array(page.xml(includeMetadata: true).utf8))
        #expect(read == page)
        #expect(try BlobListing(xml: Array(page.xml(includeMetadata: false).utf8)).items.first?.metadata.isEmpty == true)
        #expect(throws: BlobListing.Malformed.self) { try BlobListing(xml: Array("<EnumerationResults><Blobs><Blob><Name>x</Name></Blob></Blobs></EnumerationResults>".utf8)) }
        #expect(throws: BlobListing.Malformed.self) { try BlobListing(xml: Array("not xml".utf8)) }
    }

    @Test("a container SAS signs and verifies; expired, forged or under-privileged ones do not")
    func serviceSAS() throws {
        let now = Date()
        let sas = BlobServiceSAS(container: "c", permissions: "rl", expiry: now.addingTimeInterval(3600), account: "devstoreaccount1", key: key)
        let parsed = try #require(BlobServiceSAS(token: sas.token))
        try parsed.verify(permission: "r", container: "c", blob: "x", account: "devstoreaccount1", key: key, now: now, isHTTPS: false)
        #expect(throws: BlobServiceSAS.Refusal.permissionMissing("w")) {
            try parsed.verify(permission: "w", container: "c", blob: "x", account: "devstoreaccount1", key: key, now: now, isHTTPS: false)
        }
        #expect(throws: BlobServiceSAS.Refusal.signatureMismatch) {
            try parsed.verify(permission: "r", container: "other", blob: nil, account: "devstoreaccount1", key: key, now: now, isHTTPS: false)
        }
        #expect(throws: BlobServiceSAS.Refusal.outsideValidity) {
            try parsed.verify(permission: "r", container: "c", blob: nil, account: "devstoreaccount1", key: key, now: now.addingTimeInterval(7200), isHTTPS: false)
        }
        let forged = try #require(BlobServiceSAS(token: sas.token.replacingOccurrences(of: "sp=rl", with: "sp=rwl")))
        #expect(throws: BlobServiceSAS.Refusal.signatureMismatch) {
            try forged.verify(permission: "w", container: "c", blob: nil, account: "devstoreaccount1", key: key, now: now, isHTTPS: false)
        }
    }
}
