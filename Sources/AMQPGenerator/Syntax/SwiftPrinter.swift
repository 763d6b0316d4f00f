/// Turns the declaration model into Swift source text. Every formatting rule of generated code is
/// here: indentation (4 spaces), blank lines, line breaking of long signatures and arrays,
/// escaping of keywords and string literals.
struct SwiftPrinter {
    /// Signatures and array literals longer than this are broken one item per line.
    static let lineLimit = 120
    static let indentUnit = "    "

    func render(_ file: SwiftFile) -> String {
        var out = ""
        for line in file.header {
            out += line.isEmpty ? "//\n" : "// \(line)\n"
        }
        if !file.header.isEmpty { out += "\n" }
        for module in file.imports {
            out += "import \(module)\n"
        }
        if !file.imports.isEmpty { out += "\n" }
        var lines: [String] = []
        appendMembers(file.declarations, indent: "", to: &lines, topLevel: true)
        out += lines.joined(separator: "\n")
        if !lines.isEmpty { out += "\n" }
        return out
    }

    func render(_ declaration: Declaration) -> String {
        var lines: [String] = []
        append(declaration, indent: "", to: &lines)
        return lines.joined(separator: "\n")
    }

    func render(_ statement: Statement) -> String {
        var lines: [String] = []
        append(statement, indent: "", to: &lines)
        return lines.joined(separator: "\n")
    }

    // MARK: Declarations

    /// Members are separated by a blank line, except runs of undocumented enum cases and of
    /// undocumented stored properties (static and instance ones are separate runs); a `//`
    /// comment sticks to what follows it.
    private func appendMembers(_ members: [Declaration], indent: String, to lines: inout [String], topLevel: Bool) {
        var previous: Declaration?
        for member in members {
            if let previous, needsBlankLine(between: previous, and: member) {
                lines.append("")
            }
            append(member, indent: indent, to: &lines)
            previous = member
        }
    }

    private func needsBlankLine(between a: Declaration, and b: Declaration) -> Bool {
        if case .comment = a { return false }
        switch (a.undocumented, b.undocumented) {
        case (.enumCase, .enumCase):
            // Cases stay together unless a doc comment of more than one line needs room.
            return a.documentationLineCount > 1 || b.documentationLineCount > 1
        case (.variable(let x), .variable(let y)):
            return a.documentationLineCount > 0 || b.documentationLineCount > 0
                || !(x.getter == nil && y.getter == nil && x.isStatic == y.isStatic)
        default:
            return true
        }
    }

    private func append(_ declaration: Declaration, indent: String, to lines: inout [String]) {
        switch declaration {
        case .comment(let text):
            for line in text { lines.append(indent + (line.isEmpty ? "//" : "// \(line)")) }
        case .mark(let text):
            lines.append(indent + "// MARK: - \(text)")
        case .documented(let doc, let inner):
            for line in doc { lines.append(indent + (line.isEmpty ? "///" : "/// \(line)")) }
            append(inner, indent: indent, to: &lines)
        case .structure(let type):
            appendType("struct", type, indent: indent, to: &lines)
        case .enumeration(let type):
            appendType("enum", type, indent: indent, to: &lines)
        case .extension(let ext):
            let access = ext.access.map { "\($0.rawValue) " } ?? ""
            let conformances = ext.conformances.isEmpty ? "" : ": " + ext.conformances.joined(separator: ", ")
            appendBody(indent + "\(access)extension \(ext.extendedType)\(conformances)", ext.members, indent: indent, to: &lines)
        case .typealias(let access, let name, let type):
            lines.append(indent + "\(access.rawValue) typealias \(escaped(name)) = \(render(type))")
        case .variable(let v):
            var head = "\(v.access.rawValue) "
            if v.isStatic { head += "static " }
            head += (v.isMutable ? "var " : "let ") + escaped(v.name)
            if let type = v.type { head += ": \(render(type))" }
            if let getter = v.getter {
                lines.append(indent + head + " {")
                for statement in getter { append(statement, indent: indent + Self.indentUnit, to: &lines) }
                lines.append(indent + "}")
            } else if let value = v.initializer {
                lines.append(indent + head + " = " + render(value, indent: indent))
            } else {
                lines.append(indent + head)
            }
        case .function(let f):
            appendFunction(f, indent: indent, to: &lines)
        case .enumCase(let name, let associatedValues, let rawValue):
            var text = "case \(escaped(name))"
            if !associatedValues.isEmpty {
                text += "(" + associatedValues.map { ($0.label.map { "\($0): " } ?? "") + render($0.type) }.joined(separator: ", ") + ")"
            }
            if let rawValue { text += " = " + render(rawValue, indent: indent) }
            lines.append(indent + text)
        case .conditional(let condition, let members):
            lines.append(indent + "#if \(condition)")
            appendMembers(members, indent: indent, to: &lines, topLevel: false)
            lines.append(indent + "#endif")
        }
    }

    private func appendType(_ keyword: String, _ type: TypeDeclaration, indent: String, to lines: inout [String]) {
        let inherits = type.inherits.isEmpty ? "" : ": " + type.inherits.joined(separator: ", ")
        appendBody(indent + "\(type.access.rawValue) \(keyword) \(escaped(type.name))\(inherits)", type.members, indent: indent, to: &lines)
    }

    private func appendBody(_ head: String, _ members: [Declaration], indent: String, to lines: inout [String]) {
        if members.isEmpty {
            lines.append(head + " {}")
            return
        }
        lines.append(head + " {")
        appendMembers(members, indent: indent + Self.indentUnit, to: &lines, topLevel: false)
        lines.append(indent + "}")
    }

    private func appendFunction(_ f: FunctionDeclaration, indent: String, to lines: inout [String]) {
        var head = f.access.map { "\($0.rawValue) " } ?? ""
        if f.isStatic { head += "static " }
        if f.isMutating { head += "mutating " }
        switch f.kind {
        case .function(let name): head += "func \(escaped(name))"
        case .initializer(let failable): head += failable ? "init?" : "init"
        }
        var tail = ""
        if let error = f.throwsType { tail += " throws(\(error))" }
        if let result = f.returnType { tail += " -> \(render(result))" }
        tail += f.body.isEmpty ? " {}" : " {"
        let parameters = f.parameters.map { render($0, indent: indent) }
        let oneLine = indent + head + "(" + parameters.joined(separator: ", ") + ")" + tail
        if oneLine.count <= Self.lineLimit || parameters.count <= 1 {
            lines.append(oneLine)
        } else {
            lines.append(indent + head + "(")
            for (i, parameter) in parameters.enumerated() {
                lines.append(indent + Self.indentUnit + parameter + (i == parameters.count - 1 ? "" : ","))
            }
            lines.append(indent + ")" + tail)
        }
        guard !f.body.isEmpty else { return }
        for statement in f.body { append(statement, indent: indent + Self.indentUnit, to: &lines) }
        lines.append(indent + "}")
    }

    private func render(_ p: FunctionDeclaration.Parameter, indent: String) -> String {
        var text: String
        switch p.label {
        case nil: text = "_ \(escaped(p.name))"
        case p.name?: text = Self.labelKeywords.contains(p.name) ? "`\(p.name)`" : p.name
        case let label?: text = (Self.labelKeywords.contains(label) ? "`\(label)`" : label) + " \(escaped(p.name))"
        }
        text += ": " + (p.isInout ? "inout " : "") + render(p.type)
        if let value = p.defaultValue { text += " = " + render(value, indent: indent) }
        return text
    }

    // MARK: Statements

    private func append(_ statement: Statement, indent: String, to lines: inout [String]) {
        let inner = indent + Self.indentUnit
        switch statement {
        case .expression(let e):
            lines.append(indent + render(e, indent: indent))
        case .binding(let isMutable, let name, let value):
            lines.append(indent + (isMutable ? "var " : "let ") + escaped(name) + " = " + render(value, indent: indent))
        case .return(let value):
            lines.append(indent + "return" + (value.map { " " + render($0, indent: indent) } ?? ""))
        case .throw(let value):
            lines.append(indent + "throw " + render(value, indent: indent))
        case .switch(let subject, let cases):
            lines.append(indent + "switch \(render(subject, indent: indent)) {")
            for c in cases {
                if c.patterns.isEmpty {
                    lines.append(indent + "default:")
                } else {
                    lines.append(indent + "case " + c.patterns.map { render($0, indent: indent) }.joined(separator: ", ") + ":")
                }
                for s in c.body { append(s, indent: inner, to: &lines) }
            }
            lines.append(indent + "}")
        case .if(let branches, let elseBody):
            for (i, branch) in branches.enumerated() {
                let keyword = i == 0 ? indent + "if " : indent + "} else if "
                lines.append(keyword + render(branch.condition, indent: indent) + " {")
                for s in branch.body { append(s, indent: inner, to: &lines) }
            }
            if let elseBody {
                lines.append(indent + "} else {")
                for s in elseBody { append(s, indent: inner, to: &lines) }
            }
            lines.append(indent + "}")
        }
    }

    // MARK: Expressions

    func render(_ type: TypeName) -> String {
        switch type {
        case .named(let name): return name
        case .optional(let wrapped): return render(wrapped) + "?"
        case .array(let element): return "[" + render(element) + "]"
        }
    }

    func render(_ e: Expression, indent: String) -> String {
        switch e {
        case .identifier(let name):
            return name == "self" || name == "Self" ? name : escaped(name)
        case .integer(let digits):
            return digits
        case .string(let text):
            return stringLiteral(text)
        case .boolean(let value):
            return value ? "true" : "false"
        case .nil:
            return "nil"
        case .member(let base, let name):
            // After a dot every keyword is a plain member name, except these.
            let member = name == "Type" || name == "Protocol" ? "`\(name)`" : name
            return (base.map { render($0, indent: indent) } ?? "") + "." + member
        case .call(let callee, let arguments):
            let rendered = arguments.map { ($0.label.map { "\($0): " } ?? "") + render($0.value, indent: indent) }
            return render(callee, indent: indent) + "(" + rendered.joined(separator: ", ") + ")"
        case .try(let inner):
            return "try " + render(inner, indent: indent)
        case .inOut(let inner):
            return "&" + render(inner, indent: indent)
        case .binary(let lhs, let op, let rhs):
            return render(lhs, indent: indent) + " \(op) " + render(rhs, indent: indent)
        case .ternary(let condition, let then, let otherwise):
            return render(condition, indent: indent) + " ? " + render(then, indent: indent) + " : " + render(otherwise, indent: indent)
        case .assignment(let lhs, let rhs):
            return render(lhs, indent: indent) + " = " + render(rhs, indent: indent)
        case .letBinding(let name, let value):
            return "let " + escaped(name) + (value.map { " = " + render($0, indent: indent) } ?? "")
        case .metatype(let type):
            return render(type) + ".self"
        case .type(let type):
            return render(type)
        case .array(let elements):
            let items = elements.map { render($0, indent: indent + Self.indentUnit) }
            let oneLine = "[" + items.joined(separator: ", ") + "]"
            if indent.count + oneLine.count <= Self.lineLimit - 40 { return oneLine }
            return "[\n" + items.map { indent + Self.indentUnit + $0 + ",\n" }.joined() + indent + "]"
        case .keyPath(let name):
            return "\\." + escaped(name)
        case .tuple(let elements):
            return "(" + elements.map { render($0, indent: indent) }.joined(separator: ", ") + ")"
        }
    }

    private func stringLiteral(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Wraps Swift keywords in backticks so any spec name can be an identifier.
    func escaped(_ name: String) -> String {
        Self.keywords.contains(name) ? "`\(name)`" : name
    }

    /// Keywords that cannot be argument labels without backticks; every other keyword can.
    static let labelKeywords: Set<String> = ["inout", "var", "let"]

    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self",
        "super", "throws", "true", "try", "Type", "Protocol",
    ]
}

extension Declaration {
    /// The declaration without its doc comment.
    var undocumented: Declaration {
        if case .documented(_, let inner) = self { return inner.undocumented }
        return self
    }

    var documentationLineCount: Int {
        if case .documented(let lines, let inner) = self { return lines.count + inner.documentationLineCount }
        return 0
    }
}
