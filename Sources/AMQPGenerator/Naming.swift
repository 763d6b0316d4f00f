/// How spec names become Swift names. Every exception to the mechanical rule is in one of the
/// tables below, so a reader can see all renames at once.
enum Naming {
    /// Spec type names whose mechanical Swift name would collide with Swift, Foundation or the
    /// codec, or would hide what the type is.
    static let typeRenames: [String: String] = [
        // The composite `error` would shadow Swift.Error.
        "error": "AMQPError",
        // Error-condition sets are symbols, not Swift errors; their archetype is `ErrorCondition`.
        "amqp-error": "AMQPErrorCondition",
        "connection-error": "ConnectionErrorCondition",
        "session-error": "SessionErrorCondition",
        "link-error": "LinkErrorCondition",
        "transaction-error": "TransactionErrorCondition",
        // Message body sections: `AMQPValue` is the codec's value type, `Data` is Foundation's.
        "amqp-value": "AMQPValueSection",
        "amqp-sequence": "AMQPSequenceSection",
        "data": "DataSection",
        // RFC 1982 serial numbers; the alias points at the codec's `SerialNumber`.
        "sequence-no": "SequenceNumber",
        // The archetypes `distribution-mode`, `txn-capability` and `txn-id` take the plain names.
        "std-dist-mode": "StandardDistributionMode",
        "txn-capability": "StandardTransactionCapability",
        "transaction-id": "BinaryTransactionID",
    ]

    /// Swift names of the `provides` archetypes: one enum each, which every provider is a case of.
    /// `source` and `target` are also composites, so their archetypes are the link's terminus roles.
    static let archetypeNames: [String: String] = [
        "frame": "Performative",
        "sasl-frame": "SASLPerformative",
        "section": "MessageSection",
        "delivery-state": "DeliveryState",
        "outcome": "Outcome",
        "source": "LinkSource",
        "target": "LinkTarget",
        "error-condition": "ErrorCondition",
        "message-id": "MessageID",
        "address": "Address",
        "distribution-mode": "DistributionMode",
        "lifetime-policy": "LifetimePolicy",
        "txn-id": "TransactionID",
        "txn-capability": "TransactionCapability",
        "filter": "Filter",
    ]

    /// Case names of providers inside their archetype enum, where the mechanical name (the
    /// provider's name without the archetype's prefix: `message-id-ulong` → `ulong`) reads badly.
    static let providerCaseNames: [String: String] = [
        "amqp-error": "amqp",
        "connection-error": "connection",
        "session-error": "session",
        "link-error": "link",
        "transaction-error": "transaction",
        "std-dist-mode": "standard",
        "txn-capability": "standard",
        "transaction-id": "binary",
    ]

    /// Words written in capitals in Swift names (`sasl-init` → `SASLInit`, `message-id` → `messageID`).
    static let acronyms: [String: String] = [
        "amqp": "AMQP", "sasl": "SASL", "id": "ID", "ietf": "IETF", "tls": "TLS", "ttl": "TTL",
        "uuid": "UUID", "jms": "JMS", "url": "URL",
    ]

    /// Abbreviated words of spec names, spelled out in Swift names, so that a generated field and
    /// the hand-written API around it have one spelling (`snd-settle-mode` → `senderSettleMode`,
    /// as `AMQPSender` and the engine call it).
    static let wordExpansions: [String: String] = [
        "snd": "sender", "rcv": "receiver",
    ]

    /// Pairs of spec words that are one English word (`idle-time-out` → `idleTimeout`).
    static let compoundWords: [String: String] = [
        "time out": "timeout",
    ]

    /// The namespace enum that holds `<definition>` constants.
    static let definitionsNamespace = "AMQPDefinitions"
    /// The enum listing every generated described type.
    static let describedTypesRegistry = "AMQPDescribedTypes"
    /// The name of the case that keeps values no known provider or choice matches.
    static let unknownCase = "unknown"

    static func typeName(_ specName: String) -> String {
        typeRenames[specName] ?? upperCamel(specName)
    }

    static func archetypeName(_ archetype: String) -> String {
        archetypeNames[archetype] ?? upperCamel(archetype)
    }

    static func providerCaseName(_ provider: String, archetype: String) -> String {
        if let name = providerCaseNames[provider] { return name }
        if provider.hasPrefix(archetype + "-") {
            return lowerCamel(String(provider.dropFirst(archetype.count + 1)))
        }
        return lowerCamel(provider)
    }

    /// Field, choice and definition names: `max-frame-size` → `maxFrameSize`, `MIN-MAX-FRAME-SIZE` → `minMaxFrameSize`.
    static func memberName(_ specName: String) -> String {
        lowerCamel(specName)
    }

    static func words(_ name: String) -> [String] {
        let split = name.split(whereSeparator: { $0 == "-" || $0 == "_" || $0 == "." || $0 == ":" || $0 == " " })
            .map { $0.lowercased() }
        var words: [String] = []
        for word in split {
            if let last = words.last, let compound = compoundWords[last + " " + word] {
                words[words.count - 1] = compound
            } else {
                words.append(wordExpansions[word] ?? word)
            }
        }
        return words
    }

    static func upperCamel(_ name: String) -> String {
        words(name).map(capitalized).joined()
    }

    static func lowerCamel(_ name: String) -> String {
        let parts = words(name)
        guard let first = parts.first else { return name }
        return first + parts.dropFirst().map(capitalized).joined()
    }

    private static func capitalized(_ word: String) -> String {
        if let acronym = acronyms[word] { return acronym }
        return word.prefix(1).uppercased() + word.dropFirst()
    }

    /// A file name for a section: `transport` + `performatives` → `Transport.Performatives.swift`.
    static func fileName(document: String, section: String) -> String {
        upperCamel(document) + "." + upperCamel(section) + ".swift"
    }

    /// The output for a whole spec file: its name with `.swift` for `.xml`. The build-tool plugin
    /// computes the same names before the generator runs.
    static func fileName(documentFile: String) -> String {
        (documentFile.hasSuffix(".xml") ? String(documentFile.dropLast(4)) : documentFile) + ".swift"
    }

    static let archetypesFileName = "Archetypes.swift"
}
