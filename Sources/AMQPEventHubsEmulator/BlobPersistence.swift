import AMQPDurableFiles
import Crypto
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blob as the emulator keeps it.
struct StoredBlob: Codable, Sendable, Equatable {
    var name: String
    var body: [UInt8]
    /// Metadata in the order it was written (names as given; the service keeps their case).
    var metadata: [[String]]
    /// The ETag without quotes (`0x8DC…`).
    var etag: String
    /// Milliseconds since 1970.
    var lastModified: Int64
    var creationTime: Int64
    var contentType: String
    var contentEncoding: String?
    var contentLanguage: String?
    var cacheControl: String?
    var contentDisposition: String?
    var contentMD5: String?
}

/// One container: its properties, and its blobs by name.
struct StoredContainer: Codable, Sendable, Equatable {
    var name: String
    var metadata: [[String]]
    var etag: String
    var lastModified: Int64
    /// Not in the container's own file: each blob has one.
    var blobs: [String: StoredBlob] = [:]

    enum CodingKeys: String, CodingKey { case name, metadata, etag, lastModified }
}

/// The Blob endpoint's files under the data directory: `.blobs/CONTAINER/container.json` and one
/// `.blobs/CONTAINER/blob-SHA256(name).json` per blob (names may be 1,024 characters, more than a
/// file name holds). Every write goes to a temporary file, is `fsync`ed, renamed over the old file,
/// and the folder is `fsync`ed: a write that returns has survived power loss, and a crash in between
/// leaves the old file whole. A failed write throws, and the request that made it is not acknowledged.
struct BlobPersistence: Sendable {
    /// `DATA/.blobs`: hub folders are named after hubs, whose names never start with a dot.
    let root: String

    init(dataDirectory: String) {
        root = dataDirectory + "/.blobs"
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func containerFolder(_ name: String) -> String { root + "/" + name }

    static func blobFileName(_ name: String) -> String {
        "blob-" + SHA256.hash(data: Data(name.utf8)).map { String(format: "%02x", $0) }.joined() + ".json"
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    func save(container: StoredContainer) throws {
        try Self.makeFolder(root)
        try Self.makeFolder(containerFolder(container.name))
        try Self.writeDurably(try Self.encoder.encode(container), to: containerFolder(container.name) + "/container.json")
    }

    func save(blob: StoredBlob, in container: String) throws {
        try Self.writeDurably(try Self.encoder.encode(blob), to: containerFolder(container) + "/" + Self.blobFileName(blob.name))
    }

    func delete(blob name: String, in container: String) throws {
        let path = containerFolder(container) + "/" + Self.blobFileName(name)
        guard unlink(path) == 0 || errno == ENOENT else { throw Failure(description: "cannot remove \(path): errno \(errno)") }
        try Self.syncFolder(containerFolder(container))
    }

    func delete(container name: String) throws {
        let folder = containerFolder(name)
        // The container file goes first: a crash halfway leaves blob files without a container,
        // which loading ignores.
        if unlink(folder + "/container.json") != 0 && errno != ENOENT { throw Failure(description: "cannot remove \(folder): errno \(errno)") }
        try Self.syncFolder(folder)
        try? FileManager.default.removeItem(atPath: folder)
        try Self.syncFolder(root)
    }

    /// Every container with its blobs. A file that does not decode (which a torn write cannot
    /// produce, but a hand edit can) is logged and skipped; leftover temporary files are removed.
    func load(logger: Logger) -> [String: StoredContainer] {
        var containers: [String: StoredContainer] = [:]
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [:] }
        let decoder = JSONDecoder()
        for folderName in names.sorted() {
            let folder = containerFolder(folderName)
            guard let data = FileManager.default.contents(atPath: folder + "/container.json"),
                  var container = try? decoder.decode(StoredContainer.self, from: data), container.name == folderName
            else {
                logger.warning("blob container folder without a readable container.json: ignored", metadata: ["blob.folder": "\(folder)"])
                continue
            }
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                if DurableFile.isLeftover(file) {
                    unlink(folder + "/" + file)
                    continue
                }
                guard file.hasPrefix("blob-"), file.hasSuffix(".json") else { continue }
                guard let data = FileManager.default.contents(atPath: folder + "/" + file),
                      let blob = try? decoder.decode(StoredBlob.self, from: data), Self.blobFileName(blob.name) == file
                else {
                    logger.warning("unreadable blob file: ignored", metadata: ["blob.file": "\(folder)/\(file)"])
                    continue
                }
                container.blobs[blob.name] = blob
            }
            containers[folderName] = container
        }
        return containers
    }

    static func makeFolder(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw Failure(description: "cannot create \(path): errno \(errno)") }
    }

    static func writeDurably(_ data: Data, to path: String) throws {
        try DurableFile.write([UInt8](data), to: path)
    }

    static func syncFolder(_ path: String) throws {
        try DurableFile.syncFolder(path)
    }
}
