import AMQPCodec

/// The length fields inside a valid AMQP encoding, at every depth: what the robustness tests set
/// to 0, to one past the bytes left and to the maximum.
public enum EncodingFields {
    /// A size or count field: where it starts and how wide it is (1 or 4 bytes).
    public struct Field: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable { case size, count }
        public let kind: Kind
        public let offset: Int
        public let width: Int
        public var description: String { "\(kind) at \(offset)" }

        public init(kind: Kind, offset: Int, width: Int) {
            self.kind = kind
            self.offset = offset
            self.width = width
        }
    }

    /// Every size and count field of the values in `bytes` (a sequence of values), found by
    /// walking their structure: compounds, arrays (whatever their element constructor, including
    /// described and compound elements) and variable-width values. The bytes must be a valid
    /// encoding; the walk stops where they are not.
    public static func sizeAndCountFields(in bytes: [UInt8]) -> [Field] {
        var walker = Walker(bytes: bytes)
        while walker.position < bytes.count, walker.value() {}
        return walker.fields
    }

    /// `bytes` with the `field` set to `value` (truncated to its width), big-endian.
    public static func setting(_ field: Field, to value: UInt64, in bytes: [UInt8]) -> [UInt8] {
        var mutated = bytes
        for i in 0..<field.width {
            mutated[field.offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * (field.width - 1 - i)))
        }
        return mutated
    }

    /// The three values the robustness tests use for a field: 0, one more than the bytes left
    /// after it, and the largest its width holds.
    public static func hostileValues(for field: Field, in bytes: [UInt8]) -> [UInt64] {
        let left = bytes.count - field.offset - field.width
        return [0, UInt64(left + 1), field.width == 1 ? 0xFF : 0xFFFF_FFFF]
    }

    struct Walker {
        let bytes: [UInt8]
        var position = 0
        var fields: [Field] = []

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func length(_ width: Int, _ kind: Field.Kind) -> Int? {
            guard position + width <= bytes.count else { return nil }
            fields.append(Field(kind: kind, offset: position, width: width))
            var value = 0
            for _ in 0..<width { value = value << 8 | Int(bytes[position]); position += 1 }
            return value
        }

        /// One value: its constructor, then its payload.
        mutating func value() -> Bool {
            guard let code = byte() else { return false }
            if code == 0x00 { return value() && value() }
            return payload(code)
        }

        /// The bytes after a constructor (a value's, or an array's shared one).
        mutating func payload(_ code: UInt8) -> Bool {
            switch code {
            case 0x40...0x45: return true
            case 0x50...0x56: position += 1
            case 0x60, 0x61: position += 2
            case 0x70...0x74: position += 4
            case 0x80...0x84: position += 8
            case 0x94, 0x98: position += 16
            case 0xA0, 0xA1, 0xA3, 0xB0, 0xB1, 0xB3:
                guard let size = length(code & 0xF0 == 0xA0 ? 1 : 4, .size) else { return false }
                position += size
            case 0xC0, 0xC1, 0xD0, 0xD1:
                let width = code & 0xF0 == 0xC0 ? 1 : 4
                guard length(width, .size) != nil, let count = length(width, .count) else { return false }
                for _ in 0..<count { guard value() else { return false } }
            case 0xE0, 0xF0:
                let width = code == 0xE0 ? 1 : 4
                guard length(width, .size) != nil, let count = length(width, .count), var element = byte() else { return false }
                if element == 0x00 {
                    guard value(), let described = byte() else { return false }
                    element = described
                }
                for _ in 0..<count { guard payload(element) else { return false } }
            default:
                return false
            }
            return position <= bytes.count
        }
    }
}
