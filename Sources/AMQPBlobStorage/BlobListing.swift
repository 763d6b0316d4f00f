import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// One page of a List Blobs answer (`GET /CONTAINER?restype=container&comp=list`), in the XML the
/// service writes (the element names of the REST reference, which Microsoft's storage clients
/// deserialize by name): written by the emulator's endpoint, read by the checkpoint store.
public struct BlobListing: Sendable, Hashable {
    /// One blob of the page.
    public struct Item: Sendable, Hashable {
        /// The blob's full name.
        public var name: String
        /// Its ETag as the service writes it, quotes included (`"0x8DC…"`).
        public var etag: String
        /// When it was last written (whole seconds).
        public var lastModified: Date
        /// When it was created.
        public var creationTime: Date
        /// Its size in bytes.
        public var contentLength: Int
        /// Its content type.
        public var contentType: String
        /// Its metadata, in the order written (only when the listing included metadata).
        public var metadata: [(name: String, value: String)]

        /// A blob of a listing.
        public init(name: String, etag: String, lastModified: Date, creationTime: Date? = nil, contentLength: Int = 0,
                    contentType: String = "application/octet-stream", metadata: [(name: String, value: String)] = []) {
            self.name = name
            self.etag = etag
            self.lastModified = lastModified
            self.creationTime = creationTime ?? lastModified
            self.contentLength = contentLength
            self.contentType = contentType
            self.metadata = metadata
        }

        /// The value of metadata `name` (metadata names ignore case, as the service treats them).
        public func metadata(_ name: String) -> String? {
            metadata.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        public static func == (lhs: Item, rhs: Item) -> Bool {
            lhs.name == rhs.name && lhs.etag == rhs.etag && lhs.lastModified == rhs.lastModified
                && lhs.creationTime == rhs.creationTime && lhs.contentLength == rhs.contentLength
                && lhs.contentType == rhs.contentType && lhs.metadata.map(\.name) == rhs.metadata.map(\.name)
                && lhs.metadata.map(\.value) == rhs.metadata.map(\.value)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(name)
            hasher.combine(etag)
        }
    }

    /// The account's endpoint, as the `ServiceEndpoint` attribute names it.
    public var serviceEndpoint: String
    /// The container listed.
    public var containerName: String
    /// The `prefix` asked for.
    public var prefix: String?
    /// The `marker` the page starts at.
    public var marker: String?
    /// The `maxresults` asked for.
    public var maxResults: Int?
    /// The page's blobs, in name order.
    public var items: [Item]
    /// Where the next page starts; `nil` on the last page.
    public var nextMarker: String?

    /// A page of a listing.
    public init(serviceEndpoint: String, containerName: String, prefix: String? = nil, marker: String? = nil, maxResults: Int? = nil,
                items: [Item], nextMarker: String? = nil) {
        self.serviceEndpoint = serviceEndpoint
        self.containerName = containerName
        self.prefix = prefix
        self.marker = marker
        self.maxResults = maxResults
        self.items = items
        self.nextMarker = nextMarker
    }

    // MARK: Writing

    /// The page as the service writes it; metadata only when `includeMetadata`.
    public func xml(includeMetadata: Bool) -> String {
        var out = #"<?xml version="1.0" encoding="utf-8"?>"#
        out += #"<EnumerationResults ServiceEndpoint="\#(BlobXML.escape(serviceEndpoint))" ContainerName="\#(BlobXML.escape(containerName))">"#
        if let prefix { out += "<Prefix>\(BlobXML.escape(prefix))</Prefix>" }
        if let marker { out += "<Marker>\(BlobXML.escape(marker))</Marker>" }
        if let maxResults { out += "<MaxResults>\(maxResults)</MaxResults>" }
        out += "<Blobs>"
        for item in items {
            out += "<Blob>"
            out += BlobXML.nameElement(item.name)
            out += "<Properties>"
            out += "<Creation-Time>\(BlobDate.rfc1123(item.creationTime))</Creation-Time>"
            out += "<Last-Modified>\(BlobDate.rfc1123(item.lastModified))</Last-Modified>"
            out += "<Etag>\(BlobXML.escape(item.etag))</Etag>"
            out += "<Content-Length>\(item.contentLength)</Content-Length>"
            out += "<Content-Type>\(BlobXML.escape(item.contentType))</Content-Type>"
            out += "<Content-Encoding /><Content-Language /><Content-CRC64 /><Content-MD5 /><Cache-Control /><Content-Disposition />"
            out += "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
            out += "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
            out += "</Properties>"
            if includeMetadata {
                out += "<Metadata>"
                for (name, value) in item.metadata { out += "<\(name)>\(BlobXML.escape(value))</\(name)>" }
                out += "</Metadata>"
            }
            out += "</Blob>"
        }
        out += "</Blobs>"
        out += nextMarker.map { "<NextMarker>\(BlobXML.escape($0))</NextMarker>" } ?? "<NextMarker />"
        out += "</EnumerationResults>"
        return out
    }

    // MARK: Reading

    /// Why a listing could not be read.
    public struct Malformed: Error, Hashable, Sendable, CustomStringConvertible {
        /// What was wrong.
        public var description: String
    }

    /// Reads a page the service wrote. Unknown elements are ignored (the service adds some with
    /// new versions); a blob without a name, ETag or valid Last-Modified makes the page malformed.
    public init(xml: [UInt8]) throws(Malformed) {
        let reader = ListingReader()
        let parser = XMLParser(data: Data(xml))
        parser.delegate = reader
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        guard parser.parse(), reader.failure == nil else {
            throw Malformed(description: reader.failure ?? "not XML: \(parser.parserError.map { "\($0)" } ?? "parse failed")")
        }
        guard let page = reader.page else { throw Malformed(description: "no EnumerationResults element") }
        self = page
    }
}

/// Collects a listing from parser callbacks. Lives only during one `parse()` on one thread.
private final class ListingReader: NSObject, XMLParserDelegate {
    var page: BlobListing?
    var failure: String?
    private var path: [String] = []
    private var text = ""
    private var nameIsEncoded = false
    private var name: String?
    private var etag: String?
    private var lastModified: Date?
    private var creationTime: Date?
    private var contentLength = 0
    private var contentType = "application/octet-stream"
    private var metadata: [(name: String, value: String)] = []

    func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        path.append(element)
        text = ""
        switch path {
        case ["EnumerationResults"]:
            page = BlobListing(serviceEndpoint: attributes["ServiceEndpoint"] ?? "", containerName: attributes["ContainerName"] ?? "", items: [])
        case ["EnumerationResults", "Blobs", "Blob"]:
            name = nil
            etag = nil
            lastModified = nil
            creationTime = nil
            contentLength = 0
            contentType = "application/octet-stream"
            metadata = []
        case ["EnumerationResults", "Blobs", "Blob", "Name"]:
            nameIsEncoded = attributes["Encoded"]?.lowercased() == "true"
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        defer {
            path.removeLast()
            text = ""
        }
        guard page != nil else { return }
        switch path {
        case ["EnumerationResults", "Prefix"]: page?.prefix = text
        case ["EnumerationResults", "Marker"]: page?.marker = text
        case ["EnumerationResults", "MaxResults"]: page?.maxResults = Int(text)
        case ["EnumerationResults", "NextMarker"]: page?.nextMarker = text.isEmpty ? nil : text
        case ["EnumerationResults", "Blobs", "Blob", "Name"]:
            name = nameIsEncoded ? text.removingPercentEncoding : text
        case ["EnumerationResults", "Blobs", "Blob", "Properties", "Etag"]: etag = text
        case ["EnumerationResults", "Blobs", "Blob", "Properties", "Last-Modified"]: lastModified = BlobDate.parseRFC1123(text)
        case ["EnumerationResults", "Blobs", "Blob", "Properties", "Creation-Time"]: creationTime = BlobDate.parseRFC1123(text)
        case ["EnumerationResults", "Blobs", "Blob", "Properties", "Content-Length"]: contentLength = Int(text) ?? 0
        case ["EnumerationResults", "Blobs", "Blob", "Properties", "Content-Type"]: contentType = text
        case let p where p.count == 5 && Array(p.prefix(4)) == ["EnumerationResults", "Blobs", "Blob", "Metadata"]:
            metadata.append((element, text))
        case ["EnumerationResults", "Blobs", "Blob"]:
            guard let name, let etag, let lastModified else {
                failure = "a Blob element lacks Name, Etag or a valid Last-Modified"
                parser.abortParsing()
                return
            }
            page?.items.append(.init(name: name, etag: etag, lastModified: lastModified, creationTime: creationTime,
                                     contentLength: contentLength, contentType: contentType, metadata: metadata))
        default:
            break
        }
    }
}

/// The little XML the Blob service writes.
public enum BlobXML {
    /// `text` with `&`, `<`, `>`, `"` and `'` escaped.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Whether XML 1.0 can carry `text` at all (it cannot carry most control characters).
    static func isRepresentable(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in
            s == "\t" || s == "\n" || s == "\r" || (s.value >= 0x20 && s.value != 0xFFFE && s.value != 0xFFFF)
        }
    }

    /// `<Name>…</Name>`, or, as the service does for names XML cannot carry,
    /// `<Name Encoded="true">percent-encoded</Name>`.
    static func nameElement(_ name: String) -> String {
        if isRepresentable(name) { return "<Name>\(escape(name))</Name>" }
        return #"<Name Encoded="true">\#(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "")</Name>"#
    }

    /// The error document of a failed request: `<Error><Code>…</Code><Message>…</Message></Error>`.
    public static func error(code: String, message: String) -> String {
        #"<?xml version="1.0" encoding="utf-8"?><Error><Code>\#(escape(code))</Code><Message>\#(escape(message))</Message></Error>"#
    }
}
