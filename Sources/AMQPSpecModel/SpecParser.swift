/// Reads one spec file into a ``SpecDocument``, checking that every element has the attributes
/// the schema requires and that codes and flags are well formed. References between types are
/// checked later, by ``SpecModel``, once every file is read.
public enum SpecParser {
    /// Parses the bytes of a spec file. `fileName` names the file in errors.
    ///
    /// Any bytes may be passed: the result is a document or a ``SpecError``, never a crash.
    public static func parse(_ bytes: [UInt8], fileName: String) throws(SpecError) -> SpecDocument {
        let root = try XMLTree.parse(bytes, fileName: fileName)
        let reader = ElementReader(fileName: fileName)
        return try reader.document(root)
    }
}

private struct ElementReader {
    let fileName: String

    func location(_ e: XMLElement) -> SourceLocation {
        SourceLocation(file: fileName, line: e.line)
    }

    func required(_ attribute: String, of e: XMLElement) throws(SpecError) -> String {
        guard let value = e.attributes[attribute] else {
            let owner = e.attributes["name"].map { "\(e.name) '\($0)'" } ?? "<\(e.name)>"
            throw SpecError(.missingAttribute, at: location(e), name: attribute, "\(owner) has no '\(attribute)' attribute")
        }
        return value
    }

    func flag(_ attribute: String, of e: XMLElement) throws(SpecError) -> Bool {
        switch e.attributes[attribute] {
        case nil, "false": return false
        case "true": return true
        case let other?:
            throw SpecError(.invalidAttribute, at: location(e), name: attribute, "\(attribute)=\"\(other)\" on \(e.name) '\(e.attributes["name"] ?? "")' must be true or false")
        }
    }

    func document(_ root: XMLElement) throws(SpecError) -> SpecDocument {
        guard root.name == "amqp" else {
            throw SpecError(.unexpectedRoot, at: location(root), name: root.name, "the document element is <\(root.name)>, expected <amqp>")
        }
        let name = try required("name", of: root)
        var sections: [SpecSection] = []
        var docs: [SpecDoc] = []
        for child in root.elements {
            switch child.name {
            case "section": sections.append(try section(child))
            case "doc": docs.append(doc(child))
            default: break  // the schema allows nothing else here; other tools' annotations are ignored
            }
        }
        let swiftModule = root.attributes["swift-module"]
        if let swiftModule, !Self.isSwiftIdentifier(swiftModule) {
            throw SpecError(.invalidAttribute, at: location(root), name: "swift-module", "swift-module=\"\(swiftModule)\" is not a Swift module name")
        }
        return SpecDocument(name: name, fileName: fileName, label: root.attributes["label"], docs: docs, sections: sections, swiftModule: swiftModule)
    }

    /// Letters, digits and `_`, not starting with a digit: what an `import` can name.
    static func isSwiftIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    func section(_ e: XMLElement) throws(SpecError) -> SpecSection {
        var section = SpecSection(
            name: try required("name", of: e), title: e.attributes["title"], label: e.attributes["label"],
            docs: [], types: [], definitions: [], location: location(e))
        for child in e.elements {
            switch child.name {
            case "type": section.types.append(try type(child))
            case "definition":
                section.definitions.append(SpecDefinition(
                    name: try required("name", of: child), value: try required("value", of: child),
                    label: child.attributes["label"], docs: docs(in: child), location: location(child)))
            case "doc": section.docs.append(doc(child))
            default: break
            }
        }
        return section
    }

    func type(_ e: XMLElement) throws(SpecError) -> SpecType {
        let name = try required("name", of: e)
        let classText = try required("class", of: e)
        guard let typeClass = SpecType.TypeClass(rawValue: classText) else {
            throw SpecError(.invalidAttribute, at: location(e), name: name, "type '\(name)' has class \"\(classText)\", expected primitive, composite or restricted")
        }
        var type = SpecType(
            name: name, typeClass: typeClass, source: e.attributes["source"],
            provides: list(e.attributes["provides"]), label: e.attributes["label"],
            encodings: [], descriptor: nil, fields: [], choices: [], docs: [], location: location(e))
        if typeClass != .primitive && type.source == nil {
            throw SpecError(.missingAttribute, at: location(e), name: "source", "\(typeClass.rawValue) type '\(name)' has no 'source' attribute")
        }
        for child in e.elements {
            switch child.name {
            case "encoding":
                let codeText = try required("code", of: child)
                guard let code = parseHex(codeText).flatMap({ UInt8(exactly: $0) }) else {
                    throw SpecError(.invalidCode, at: location(child), name: name, "encoding code \"\(codeText)\" of '\(name)' is not a one-byte hexadecimal code such as 0x40")
                }
                let widthText = child.attributes["width"]
                let width = widthText.flatMap { Int($0) }
                if widthText != nil && width == nil {
                    throw SpecError(.invalidAttribute, at: location(child), name: "width", "encoding width \"\(widthText ?? "")\" of '\(name)' is not a number")
                }
                type.encodings.append(SpecEncoding(
                    name: child.attributes["name"], code: code, category: try required("category", of: child),
                    width: width, label: child.attributes["label"], location: location(child)))
            case "descriptor":
                let descriptorName = try required("name", of: child)
                let codeText = try required("code", of: child)
                guard let code = parseDescriptorCode(codeText) else {
                    throw SpecError(.invalidCode, at: location(child), name: descriptorName, "descriptor code \"\(codeText)\" of '\(name)' is not of the form 0xHHHHHHHH:0xHHHHHHHH")
                }
                if type.descriptor != nil {
                    throw SpecError(.duplicateDescriptor, at: location(child), name: name, "type '\(name)' has more than one descriptor")
                }
                type.descriptor = SpecDescriptor(name: descriptorName, code: code, location: location(child))
            case "field":
                type.fields.append(SpecField(
                    name: try required("name", of: child), type: try required("type", of: child),
                    requires: list(child.attributes["requires"]), defaultValue: child.attributes["default"],
                    label: child.attributes["label"], mandatory: try flag("mandatory", of: child),
                    multiple: try flag("multiple", of: child), docs: docs(in: child), location: location(child)))
            case "choice":
                type.choices.append(SpecChoice(
                    name: try required("name", of: child), value: try required("value", of: child),
                    docs: docs(in: child), location: location(child)))
            case "doc":
                type.docs.append(doc(child))
            default:
                break
            }
        }
        return type
    }

    func docs(in e: XMLElement) -> [SpecDoc] {
        e.elements.filter { $0.name == "doc" }.map(doc)
    }

    func doc(_ e: XMLElement) -> SpecDoc {
        var blocks: [SpecDoc.Block] = []
        var loose = ""
        func flushLoose() {
            let text = collapse(loose)
            if !text.isEmpty { blocks.append(.paragraph(text)) }
            loose = ""
        }
        for child in e.children {
            switch child {
            case .text(let t):
                loose += t
            case .element(let c):
                switch c.name {
                case "p":
                    flushLoose()
                    let text = collapse(c.textContent)
                    if !text.isEmpty { blocks.append(.paragraph(text)) }
                case "ul", "ol":
                    flushLoose()
                    blocks.append(.list(c.elements.map { collapse($0.textContent) }.filter { !$0.isEmpty }))
                case "dl":
                    flushLoose()
                    var items: [String] = []
                    for item in c.elements {
                        let text = collapse(item.textContent)
                        if item.name == "dd", let last = items.popLast() {
                            items.append(last + ": " + text)
                        } else {
                            items.append(text)
                        }
                    }
                    blocks.append(.list(items))
                case "picture":
                    flushLoose()
                    var lines = c.textContent.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).trimmingTrailingWhitespace() }
                    while lines.first?.isEmpty == true { lines.removeFirst() }
                    while lines.last?.isEmpty == true { lines.removeLast() }
                    if !lines.isEmpty { blocks.append(.picture(lines)) }
                default:
                    loose += c.textContent
                }
            }
        }
        flushLoose()
        return SpecDoc(title: e.attributes["title"], blocks: blocks)
    }
}

/// Splits `provides="delivery-state, outcome"` into its names.
func list(_ text: String?) -> [String] {
    guard let text else { return [] }
    return text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
}

/// Collapses runs of whitespace to one space and trims the ends.
func collapse(_ text: String) -> String {
    text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
}

/// `0x1F` → 31; nil unless the text is `0x` followed by 1–16 hexadecimal digits.
func parseHex(_ text: String) -> UInt64? {
    guard text.hasPrefix("0x") || text.hasPrefix("0X") else { return nil }
    let digits = text.dropFirst(2)
    guard !digits.isEmpty, digits.count <= 16 else { return nil }
    return UInt64(digits, radix: 16)
}

/// `0x00000000:0x00000010` → 0x10: two 32-bit halves, each written with exactly eight digits.
func parseDescriptorCode(_ text: String) -> UInt64? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    var code: UInt64 = 0
    for part in parts {
        guard part.count == 10, let half = parseHex(String(part)) else { return nil }
        code = code << 32 | half
    }
    return code
}
