internal import CLibXML2

/// An XML element read by libxml2 and copied into Swift values, so that nothing outside this file
/// touches libxml2's pointers.
struct XMLElement: Sendable {
    enum Child: Sendable {
        case element(XMLElement)
        case text(String)
    }

    var name: String
    var attributes: [String: String]
    var children: [Child]
    var line: Int

    var elements: [XMLElement] {
        children.compactMap { if case .element(let e) = $0 { return e } else { return nil } }
    }

    /// The text of the element and all its descendants, in document order.
    var textContent: String {
        children.map { child -> String in
            switch child {
            case .text(let t): return t
            case .element(let e): return e.textContent
            }
        }.joined()
    }
}

/// libxml2 needs one call to `xmlInitParser` before parsers run on several threads; a global's
/// lazy initializer runs exactly once, whatever thread gets there first.
private let libxml2Initialized: Bool = {
    xmlInitParser()
    return true
}()

/// The first error libxml2 reports while parsing one document.
private final class FirstError {
    var line: Int?
    var message: String?
}

enum XMLTree {
    /// Parses `bytes` as an XML document and returns its document element.
    ///
    /// No network access, no external entities, no DTD loading; errors are returned rather than
    /// printed. libxml2 bounds nesting depth (256) and entity expansion, so arbitrary bytes cannot
    /// exhaust the stack or memory here.
    static func parse(_ bytes: [UInt8], fileName: String) throws(SpecError) -> XMLElement {
        _ = libxml2Initialized
        guard let size = Int32(exactly: bytes.count) else {
            throw SpecError(.notWellFormed, file: fileName, line: 0, name: fileName, "\(bytes.count) bytes is too large for an XML spec file")
        }
        guard let context = xmlNewParserCtxt() else {
            throw SpecError(.notWellFormed, file: fileName, line: 0, name: fileName, "libxml2 could not allocate a parser")
        }
        defer { xmlFreeParserCtxt(context) }
        // libxml2 goes on after the first error and reports the last one ("Premature end of data"
        // at the end of the file); the first one is where the problem is, so keep that.
        let firstError = FirstError()
        context.pointee._private = Unmanaged.passUnretained(firstError).toOpaque()
        context.pointee.sax.pointee.serror = { data, error in
            guard let data, let error else { return }
            let context = data.assumingMemoryBound(to: xmlParserCtxt.self)
            guard let box = context.pointee._private else { return }
            let first = Unmanaged<FirstError>.fromOpaque(box).takeUnretainedValue()
            guard first.line == nil, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
            first.line = Int(error.pointee.line)
            first.message = error.pointee.message.map { String(cString: $0).trimmingTrailingWhitespace() }
        }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_NOBLANKS.rawValue | XML_PARSE_BIG_LINES.rawValue | XML_PARSE_NOCDATA.rawValue)
        // An empty array has no storage to point at; one byte that is not read (size 0) stands in.
        let storage = bytes.isEmpty ? [0] : bytes
        let document = storage.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                xmlCtxtReadMemory(context, chars.baseAddress, size, fileName, nil, options)
            }
        }
        guard let document, context.pointee.wellFormed != 0 else {
            if let document { xmlFreeDoc(document) }
            var line = firstError.line ?? 0
            var message = firstError.message ?? "not well-formed"
            if firstError.line == nil, let error = xmlCtxtGetLastError(context) {
                line = Int(error.pointee.line)
                if let text = error.pointee.message {
                    message = String(cString: text).trimmingTrailingWhitespace()
                }
            }
            throw SpecError(.notWellFormed, file: fileName, line: line, name: fileName, message)
        }
        defer { xmlFreeDoc(document) }
        guard let root = xmlDocGetRootElement(document) else {
            throw SpecError(.notWellFormed, file: fileName, line: 0, name: fileName, "the document has no element")
        }
        return element(root)
    }

    private static func element(_ node: xmlNodePtr) -> XMLElement {
        var attributes: [String: String] = [:]
        var attribute = node.pointee.properties
        while let a = attribute {
            let name = String(cString: a.pointee.name)
            if let value = xmlNodeListGetString(node.pointee.doc, a.pointee.children, 1) {
                attributes[name] = String(cString: value)
                clibxml2_free(value)
            } else {
                attributes[name] = ""
            }
            attribute = a.pointee.next
        }
        var children: [XMLElement.Child] = []
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE:
                children.append(.element(element(c)))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = c.pointee.content {
                    children.append(.text(String(cString: content)))
                }
            default:
                break
            }
            child = c.pointee.next
        }
        return XMLElement(
            name: String(cString: node.pointee.name),
            attributes: attributes,
            children: children,
            line: xmlGetLineNo(node)
        )
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }

    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}
