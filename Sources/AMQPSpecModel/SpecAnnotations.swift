/// What the generated doc comments say that the XML does not: the specification's section numbers
/// and the units of integer fields.
///
/// The Debian `.bare` files have no `<doc>` text, so "milliseconds" and "§2.7.1" appear nowhere in
/// them; the full amqp.org files state units only in prose. These facts come from a small
/// tab-separated table (`spec/annotations.tsv` in this package), one fact a line:
///
/// ```
/// section   transport   performatives   2.7   2.7.1
/// unit      milliseconds                milliseconds
/// unit      open/max-frame-size         bytes
/// ```
///
/// A `section` line gives a `<section>`'s number and, when the specification numbers its types in
/// file order, the number of its first type (`2.7.1`: `open` is §2.7.1, `begin` §2.7.2, …). A
/// `unit` line names a type (every field of that type is in the unit) or `type/field`. Blank lines
/// and lines starting with `#` are comments. Every name must be one the model defines.
public struct SpecAnnotations: Hashable, Sendable {
    /// A section's place in the specification.
    public struct SectionNumber: Hashable, Sendable {
        /// `2.7`
        public var number: String
        /// The number of the section's first type (`2.7.1`), when the specification numbers its
        /// types in file order; later types count up from it.
        public var firstType: [Int]?
    }

    /// Section numbers by `document/section` (`transport/performatives`).
    public var sections: [String: SectionNumber]
    /// Units by type name (`milliseconds`) or `type/field` (`open/max-frame-size`).
    public var units: [String: String]

    /// No annotations.
    public init() {
        self.sections = [:]
        self.units = [:]
    }

    /// Reads a table; `fileName` names it in errors. Any bytes may be passed: the result is a table
    /// or a ``SpecError`` naming the line, never a crash.
    public static func parse(_ bytes: [UInt8], fileName: String) throws(SpecError) -> SpecAnnotations {
        var result = SpecAnnotations()
        guard let text = String(validatingUTF8Bytes: bytes) else {
            throw SpecError(.notWellFormed, file: fileName, line: 0, name: fileName, "\(fileName) is not UTF-8")
        }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let columns = line.split(separator: "\t", omittingEmptySubsequences: true).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
            func fail(_ message: String) -> SpecError {
                SpecError(.invalidAttribute, file: fileName, line: lineNumber, name: columns.first ?? "", message)
            }
            switch columns.first {
            case "section":
                guard columns.count == 4 || columns.count == 5 else {
                    throw fail("a section line is: section <document> <section> <number> [<first type's number>], tab-separated")
                }
                guard Self.isSectionNumber(columns[3]) else { throw fail("'\(columns[3])' is not a section number like 2.7") }
                var firstType: [Int]?
                if columns.count == 5 {
                    guard Self.isSectionNumber(columns[4]), columns[4].hasPrefix(columns[3] + ".") else {
                        throw fail("'\(columns[4])' is not a number inside section \(columns[3])")
                    }
                    firstType = columns[4].split(separator: ".").compactMap { Int($0) }
                }
                let key = columns[1] + "/" + columns[2]
                guard result.sections[key] == nil else { throw fail("section \(key) is numbered twice") }
                result.sections[key] = SectionNumber(number: columns[3], firstType: firstType)
            case "unit":
                guard columns.count == 3 else { throw fail("a unit line is: unit <type> or <type>/<field>, then the unit, tab-separated") }
                guard result.units[columns[1]] == nil else { throw fail("\(columns[1]) has two units") }
                result.units[columns[1]] = columns[2]
            default:
                throw fail("a line starts with 'section' or 'unit', not '\(columns.first ?? "")'")
            }
            result.lines[columns[0] + " " + columns[1] + (columns[0] == "section" ? "/" + columns[2] : "")] = lineNumber
        }
        result.fileName = fileName
        return result
    }

    /// Where each fact was read, for errors found when checking it against a model.
    private var lines: [String: Int] = [:]
    private var fileName = ""

    /// Checks that every section, type and field named here is one `model` defines.
    public func validate(against model: SpecModel) throws(SpecError) {
        for key in sections.keys.sorted() {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            let known = model.documents.contains { document in
                document.name == parts[0] && document.sections.contains { $0.name == parts.last }
            }
            guard known else {
                throw SpecError(.unknownType, file: fileName, line: lines["section " + key] ?? 0, name: key, "no loaded file has a section '\(parts.last ?? "")' in '\(parts[0])'")
            }
        }
        for key in units.keys.sorted() {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            let line = lines["unit " + key] ?? 0
            let type = model.type(named: parts[0])
            if parts.count == 2 {
                guard let type, type.fields.contains(where: { $0.name == parts[1] }) else {
                    throw SpecError(.unknownType, file: fileName, line: line, name: key, "'\(key)' names no field of a loaded type")
                }
            } else if type == nil && !SpecModel.primitiveNames.contains(parts[0]) {
                throw SpecError(.unknownType, file: fileName, line: line, name: key, "'\(key)' names no loaded type")
            }
        }
    }

    /// The unit of `field` of `type`: its own, or its type's.
    public func unit(ofField field: SpecField, in type: SpecType) -> String? {
        units[type.name + "/" + field.name] ?? units[field.type]
    }

    /// The specification's number for `type`, the `index`th type of `section` in `document`
    /// (`2.7.1`), or the section's number when its types are not numbered in file order.
    public func number(ofType index: Int, section: String, document: String) -> String? {
        guard let entry = sections[document + "/" + section] else { return nil }
        guard var first = entry.firstType, !first.isEmpty else { return nil }
        first[first.count - 1] += index
        return first.map(String.init).joined(separator: ".")
    }

    /// The number of `section` of `document` (`2.7`), if the table has it.
    public func number(ofSection section: String, document: String) -> String? {
        sections[document + "/" + section]?.number
    }

    private static func isSectionNumber(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 1 && parts.count <= 6 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigitCharacter) }
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var s = self
        while s.first == " " || s.first == "\r" { s.removeFirst() }
        while s.last == " " || s.last == "\r" { s.removeLast() }
        return String(s)
    }
}

extension String {
    /// `nil` when `bytes` are not valid UTF-8 (unlike `String(decoding:as:)`, which repairs them).
    fileprivate init?(validatingUTF8Bytes bytes: [UInt8]) {
        var iterator = bytes.makeIterator()
        var utf8 = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch utf8.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}
