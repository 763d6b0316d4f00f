import AMQPTypes

// Hand-written code beside the generated types uses them and the core's alike.
extension LinkReport {
    /// `orders (receiver): amqp:resource-limit-exceeded`, or `orders (sender): ok`.
    public var summary: String {
        "\(linkName) (\(role == .sender ? "sender" : "receiver")): " + (error.map { "\($0.condition.rawValue)" } ?? "ok")
    }
}
