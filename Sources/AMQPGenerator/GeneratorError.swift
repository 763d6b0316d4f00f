import AMQPSpecModel

/// A valid spec the generator cannot turn into Swift: a field whose type has no codable Swift
/// form, two types whose Swift names collide, an archetype whose providers cannot be told apart.
public struct GeneratorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The spec file the problem is in.
    public var file: String
    /// The 1-based line in ``file`` of the element concerned.
    public var line: Int
    /// The spec name the error is about.
    public var name: String
    /// What is wrong, in words.
    public var message: String

    init(at location: SourceLocation, name: String, _ message: String) {
        self.file = location.file
        self.line = location.line
        self.name = name
        self.message = message
    }

    /// `file:line: error: message`, the form editors and CI logs link to.
    public var description: String {
        "\(file):\(line): error: \(message)"
    }
}
