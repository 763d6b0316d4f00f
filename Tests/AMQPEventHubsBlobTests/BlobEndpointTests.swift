import AMQPBlobStorage
import AMQPEventHubs
@testable import AMQPEventHubsBlobCheckpointStore
import AMQPEventHubsEmulator
import AMQPTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The emulator's Blob endpoint, proven with Microsoft's azure-storage-blob (unpatched), and with
/// hostile and malformed requests.
@Suite("Emulator Blob endpoint", .serialized, .timeLimit(.minutes(5)))
struct BlobEndpointTests {
    @Test("azure-storage-blob 12.x: containers, uploads, metadata, conditions, listings, downloads, SAS, a wrong key")
    func microsoftStorageClient() async throws {
        try await withBlobEmulator { fixture in
            let out = try await BlobSDK.run(["generic", fixture.storage.text])
            func error(_ key: String) -> (status: Int?, code: String?) {
                let e = out[key] as? [String: Any]
                return (e?["status"] as? Int, e?["code"] as? String)
            }
            #expect(error("create_again") == (409, "ContainerAlreadyExists"))
            #expect(out["container_metadata"] as? [String: String] == ["purpose": "test"])
            let properties = try #require(out["properties"] as? [String: Any])
            #expect(properties["etag"] as? String == out["upload_etag"] as? String)
            #expect(properties["size"] as? Int == 10)
            #expect(properties["metadata"] as? [String: String] == ["ownerid": "x", "Mixed_Case": "V"])
            #expect(error("upload_again") == (409, "BlobAlreadyExists"), "If-None-Match: * on an existing blob")
            #expect(out["metadata_etag"] as? String != out["upload_etag"] as? String, "every write changes the ETag")
            #expect(error("stale_metadata") == (412, "ConditionNotMet"))
            #expect(error("if_modified").0 == 304, "If-None-Match with the current ETag")
            #expect(out["download"] as? String == "hello blob")
            #expect(out["download_empty"] as? Int == 0)
            let listed = try #require(out["list_a"] as? [[String: Any]])
            #expect(listed.compactMap { $0["name"] as? String } == ["a/b/one", "a/c/two"])
            #expect(listed.first?["metadata"] as? [String: String] == ["k": "v"])
            #expect(listed.last?["metadata"] as? [String: String] == ["n": "2"])
            #expect(out["list_all_paged"] as? [String] == ["a/b/one", "a/c/two", "z/three"], "one blob per page, following NextMarker")
            #expect(error("missing_properties").0 == 404)
            #expect(error("missing_container") == (404, "ContainerNotFound"))
            #expect(error("metadata_on_missing") == (404, "BlobNotFound"))
            #expect(error("wrong_key") == (403, "AuthenticationFailed"))
            #expect(out["sas_list"] as? [String] == ["a/b/one", "a/c/two", "z/three"])
            #expect(error("sas_write") == (403, "AuthorizationPermissionMismatch"))
            #expect(error("sas_forged") == (403, "AuthenticationFailed"))
            #expect(error("after_delete").0 == 404)
        }
    }

    /// One raw HTTP exchange; the status line's code, or nil when the connection closed first.
    func exchange(_ port: Int, _ request: String) throws -> (status: Int?, text: String) {
        let socket = try TCPTestSocket(port: port)
        defer { socket.close() }
        // The endpoint closes after answering a request that asks it to.
        let closing = request.replacingOccurrences(of: "HTTP/1.1\r\n", with: "HTTP/1.1\r\nConnection: close\r\n")
        try socket.write(Array(closing.utf8))
        let reply = String(decoding: socket.readUntilClosed(timeout: .seconds(10)).bytes, as: UTF8.self)
        let status = reply.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
        return (status, reply)
    }

    @Test("bad signatures get 403, malformed requests 400, and the endpoint keeps serving")
    func badRequests() async throws {
        try await withBlobEmulator { fixture in
            let store = try fixture.store()
            #expect(try await store.createContainerIfNotExists())
            let date = BlobDate.rfc1123(Date())
            let forged = try exchange(fixture.blobPort, "GET /devstoreaccount1/checkpoints?restype=container&comp=list HTTP/1.1\r\nHost: x\r\nx-ms-date: \(date)\r\nx-ms-version: 2019-07-07\r\nAuthorization: SharedKey devstoreaccount1:AAAA\r\nContent-Length: 0\r\n\r\n")
            #expect(forged.status == 403 && forged.text.contains("AuthenticationFailed"))
            let anonymous = try exchange(fixture.blobPort, "GET /devstoreaccount1/checkpoints?restype=container&comp=list HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(anonymous.status == 403)
            let stale = try exchange(fixture.blobPort, "GET /devstoreaccount1/checkpoints?restype=container HTTP/1.1\r\nHost: x\r\nx-ms-date: Wed, 02 Dec 2020 16:29:54 GMT\r\nAuthorization: SharedKey devstoreaccount1:AAAA\r\n\r\n")
            #expect(stale.status == 403, "a request dated long ago is refused")
            let notHTTP = try exchange(fixture.blobPort, "\u{01}\u{02} garbage \r\n\r\n")
            #expect(notHTTP.status == 400 || notHTTP.status == nil)
            let badPath = try exchange(fixture.blobPort, "GET /otheraccount/c?restype=container HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(badPath.status == 400 && badPath.text.contains("InvalidUri"))
            let badName = try exchange(fixture.blobPort, "PUT /devstoreaccount1/Bad_Name?restype=container HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            #expect(badName.status == 400 && badName.text.contains("InvalidResourceName"))
            let badVerb = try exchange(fixture.blobPort, "PATCH /devstoreaccount1/checkpoints HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            #expect(badVerb.status == 400)
            let badEncoding = try exchange(fixture.blobPort, "GET /devstoreaccount1/checkpoints/%zz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(badEncoding.status == 400)
            let badLength = try exchange(fixture.blobPort, "PUT /devstoreaccount1/checkpoints/x HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n")
            #expect(badLength.status == 400 || badLength.status == nil)
            let tooLarge = try exchange(fixture.blobPort, "PUT /devstoreaccount1/checkpoints/x HTTP/1.1\r\nHost: x\r\nContent-Length: \(5 << 20)\r\n\r\n" + String(repeating: "a", count: 5 << 20))
            #expect(tooLarge.status == 413 || tooLarge.status == 403, "either the size or the missing signature refuses it")
            // Authenticated but malformed: bad metadata names, too many conditions, a bad maxresults.
            let blob = try fixture.store().container
            let badMetadata = try await blob.send(.PUT, blob: "m", query: [], headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-meta-1bad", "v")], operation: "t")
            #expect(badMetadata.status == 400 && badMetadata.errorCode == "InvalidMetadata")
            let conditions = try await blob.send(.PUT, blob: "m", query: [], headers: [("x-ms-blob-type", "BlockBlob"), ("If-Match", "\"a\""), ("If-None-Match", "*")], operation: "t")
            #expect(conditions.status == 400 && conditions.errorCode == "MultipleConditionHeadersNotSupported")
            let maxResults = try await blob.send(.GET, blob: nil, query: [("restype", "container"), ("comp", "list"), ("maxresults", "0")], operation: "t")
            #expect(maxResults.status == 400)
            let pageBlob = try await blob.send(.PUT, blob: "m", query: [], headers: [("x-ms-blob-type", "PageBlob")], operation: "t")
            #expect(pageBlob.status == 400)
            // Still serving: the store works as before.
            try await store.updateCheckpoint(Checkpoint(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default",
                                                        partitionID: "0", offset: "10", sequenceNumber: 2))
            #expect(try await store.listCheckpoints(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default").map(\.sequenceNumber) == [2])
        }
    }

    @Test("blobs survive a restart under --data-dir with their ETags; a write that cannot be made durable is refused and not applied")
    func persistence() async throws {
        let directory = try ScratchFolder.make("blob-persistence").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ownership = PartitionOwnership(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default", partitionID: "0", ownerID: "a")
        var etag = ""
        try await withBlobEmulator(dataDirectory: directory) { fixture in
            let store = try fixture.store()
            try await store.createContainerIfNotExists()
            etag = try #require(try await store.claimOwnership([ownership]).first?.etag)
            try await store.updateCheckpoint(Checkpoint(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default",
                                                        partitionID: "0", offset: "99", sequenceNumber: 9))
        }
        try await withBlobEmulator(dataDirectory: directory) { fixture in
            let store = try fixture.store()
            #expect(try await !store.createContainerIfNotExists(), "the container is still there")
            let records = try await store.listOwnership(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default")
            #expect(records.map(\.ownerID) == ["a"])
            #expect(records.first?.etag == etag)
            #expect(try await store.listCheckpoints(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default").map(\.offset) == ["99"])
            // A new write gets a new ETag, never one handed out before the restart.
            var renew = ownership
            renew.etag = etag
            let renewed = try #require(try await store.claimOwnership([renew]).first?.etag)
            #expect(renewed != etag)

            // The container's folder becomes a file: no write can land, and none is acknowledged.
            let folder = directory + "/.blobs/checkpoints"
            try FileManager.default.removeItem(atPath: folder)
            try Data("not a folder".utf8).write(to: URL(fileURLWithPath: folder))
            var steal = ownership
            steal.ownerID = "b"
            steal.etag = renewed
            await #expect(throws: BlobStorageError.self) { try await store.claimOwnership([steal]) }
            let after = try await store.listOwnership(fullyQualifiedNamespace: "ns", eventHubName: "eh1", consumerGroup: "$Default")
            #expect(after.map(\.ownerID) == ["a"] && after.first?.etag == renewed, "the refused write changed nothing")
        }
    }
}
