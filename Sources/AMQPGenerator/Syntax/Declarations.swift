// A small typed model of the Swift the generator writes. The generator builds values of these
// types; `SwiftPrinter` alone turns them into text, so every formatting decision lives there.

/// One Swift source file.
struct SwiftFile: Sendable {
    /// Lines of the leading `//` comment, without the slashes.
    var header: [String]
    var imports: [String]
    var declarations: [Declaration]
}

enum AccessLevel: String, Sendable {
    case `public`, `internal`, `private`, `fileprivate`
}

/// A type as written in a declaration.
indirect enum TypeName: Sendable {
    case named(String)
    case optional(TypeName)
    case array(TypeName)

    static let string = TypeName.named("String")
}

/// A declaration at file scope or inside a type.
indirect enum Declaration: Sendable {
    /// `// text`, one line per element.
    case comment([String])
    /// `// MARK: - text`
    case mark(String)
    /// `/// text` lines, then the declaration.
    case documented([String], Declaration)
    case structure(TypeDeclaration)
    case enumeration(TypeDeclaration)
    case `extension`(ExtensionDeclaration)
    case `typealias`(AccessLevel, name: String, TypeName)
    case variable(VariableDeclaration)
    case function(FunctionDeclaration)
    /// `case name(label: Type, …)` or `case name = raw`
    case enumCase(name: String, associatedValues: [(label: String?, type: TypeName)], rawValue: Expression?)
    /// `#if condition`, the declarations, `#endif`.
    case conditional(String, [Declaration])
}

struct TypeDeclaration: Sendable {
    var access: AccessLevel
    var name: String
    /// For an enum, a raw type comes first (`UInt8`), then protocols.
    var inherits: [String]
    var members: [Declaration]
}

struct ExtensionDeclaration: Sendable {
    var access: AccessLevel?
    var extendedType: String
    var conformances: [String]
    var members: [Declaration]
}

struct VariableDeclaration: Sendable {
    var access: AccessLevel
    var isStatic: Bool = false
    var isMutable: Bool
    var name: String
    var type: TypeName?
    var initializer: Expression?
    /// A computed property's getter body.
    var getter: [Statement]?
}

struct FunctionDeclaration: Sendable {
    enum Kind: Sendable {
        case function(String)
        case initializer(failable: Bool)
    }

    struct Parameter: Sendable {
        /// The argument label; `nil` for `_`. When equal to `name`, it is written once.
        var label: String?
        var name: String
        var type: TypeName
        var isInout: Bool = false
        var defaultValue: Expression?
    }

    var access: AccessLevel?
    var isStatic: Bool = false
    var isMutating: Bool = false
    var kind: Kind
    var parameters: [Parameter]
    /// The error type of `throws(E)`; `nil` for a function that does not throw.
    var throwsType: String?
    var returnType: TypeName?
    var body: [Statement]
}

/// A statement in a function body.
indirect enum Statement: Sendable {
    case expression(Expression)
    /// `let name = value` or `var name = value`
    case binding(isMutable: Bool, name: String, value: Expression)
    case `return`(Expression?)
    case `throw`(Expression)
    case `switch`(Expression, [SwitchCase])
    /// `if cond { … } else if cond { … } else { … }`
    case `if`([(condition: Expression, body: [Statement])], else: [Statement]?)
}

struct SwitchCase: Sendable {
    /// The patterns of a `case`; empty for `default`.
    var patterns: [Expression]
    var body: [Statement]
}

/// An expression, or a pattern in a `case`.
indirect enum Expression: Sendable {
    case identifier(String)
    case integer(String)
    case string(String)
    case boolean(Bool)
    case `nil`
    /// `base.name`, or `.name` without a base.
    case member(Expression?, String)
    /// `callee(label: value, …)`
    case call(Expression, [Argument])
    case `try`(Expression)
    /// `&expression`
    case inOut(Expression)
    /// `lhs op rhs`
    case binary(Expression, String, Expression)
    /// `condition ? then : else`
    case ternary(Expression, Expression, Expression)
    case assignment(Expression, Expression)
    /// `let name` in a pattern, or `let name = value` in an `if` condition.
    case letBinding(String, Expression?)
    /// `Type.self`
    case metatype(TypeName)
    /// A type used as a value (`AMQPValue.described(…)`, `[T]`).
    case type(TypeName)
    /// `[a, b]`, one element per line when long.
    case array([Expression])
    /// `\.name`
    case keyPath(String)
    /// `(a, b)`
    case tuple([Expression])

    static func call(_ name: String, _ arguments: [Argument]) -> Expression {
        .call(.identifier(name), arguments)
    }

    static let `self` = Expression.identifier("self")
}

struct Argument: Sendable {
    var label: String?
    var value: Expression

    init(_ label: String?, _ value: Expression) {
        self.label = label
        self.value = value
    }

    init(_ value: Expression) {
        self.init(nil, value)
    }
}
