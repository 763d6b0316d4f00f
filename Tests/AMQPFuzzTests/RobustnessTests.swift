import AMQPCodec
import AMQPFuzzing
import AMQPMessage
import AMQPProtocol
import AMQPTestSupport
import AMQPTypes
import Testing

/// Systematic malformed inputs beyond the codec's own (`MalformedInputTests`): frame bodies,
/// messages, frame streams and whole connections, truncated at every byte, with every size and
/// count field set to hostile values, nested a million levels deep, with bad arrays, bad UTF-8 and
/// bad frame sizes. Each must end in a typed error (or, for a connection, a clean close), fast,
/// holding no more than the input warrants; the fuzz targets' oracles judge the rest.
@Suite("Robustness: frame bodies, messages, streams and connections")
struct RobustnessTests {
    static let bodies = FuzzSeeds.seeds(for: .performative).map(\.bytes)
    static let messages = FuzzSeeds.seeds(for: .message).map(\.bytes)
    static let clientStreams = FuzzSeeds.seeds(for: .listener).filter { $0.name.contains("raw") }.map(\.bytes)
    static let serverStreams = FuzzSeeds.seeds(for: .client).filter { $0.name.contains("raw") }.map(\.bytes)

    /// Runs `body`, expecting it to take less than a second even in a debug build.
    @discardableResult
    func fast<R>(_ what: @autoclosure () -> String, _ body: () -> R) -> R {
        var result: R?
        let elapsed = ContinuousClock().measure { result = body() }
        #expect(elapsed < .seconds(1), "\(what()) took \(elapsed)")
        return result!
    }

    // MARK: Truncation

    @Test("every frame body truncated at every byte: a typed error until the performative is whole")
    func truncatedBodies() throws {
        #expect(Self.bodies.count > 40)
        for body in Self.bodies {
            var whole = AMQPDecoder(body)
            guard (try? whole.decode(Performative.self)) != nil || (try? AMQPDecoder.decode(SASLPerformative.self, from: body)) != nil else {
                continue  // a described value of the registry that is not a frame body
            }
            let performativeLength = (try? AMQPDecoder(body).decodingLength(of: Performative.self)) ?? body.count
            for length in 0..<body.count {
                let cut = Array(body[..<length])
                var decoder = AMQPDecoder(cut)
                do {
                    _ = try decoder.decode(Performative.self)
                    #expect(length >= performativeLength, "\(HexEncoding.string(body)) cut to \(length) decoded")
                } catch {
                    #expect(error.offset <= length && length < performativeLength, "\(HexEncoding.string(body)) cut to \(length): \(error)")
                }
                if length < performativeLength {
                    #expect(throws: AMQPDecodingError.self) { try AMQPDecoder.decode(SASLPerformative.self, from: cut) }
                }
            }
        }
    }

    @Test("every message truncated at every byte: a typed error, or a message of fewer sections at a section boundary")
    func truncatedMessages() throws {
        for bytes in Self.messages {
            let whole = try Message(decoding: bytes)
            for length in 0..<bytes.count {
                do {
                    let message = try Message(decoding: Array(bytes[..<length]))
                    #expect(message.sections.count < whole.sections.count, "cut to \(length) still has every section")
                } catch {
                    #expect(error.offset <= length)
                }
            }
        }
    }

    /// A connection whose peer stops at any byte keeps waiting (bounded), and its idle timeout
    /// closes it cleanly; the drivers' oracles check output, events and footprint on the way.
    @Test("every conversation truncated at every byte, into both connection drivers")
    func truncatedConversations() throws {
        for (target, streams) in [(FuzzTarget.listener, Self.clientStreams), (.client, Self.serverStreams)] {
            #expect(streams.count >= 3)
            for stream in streams {
                for length in 0...stream.count {
                    #expect(throws: Never.self, "\(target) cut to \(length)") { try target.check(Array(stream[..<length])) }
                }
                // The frame decoder reads a prefix of the frames, and no error.
                var decoder = FrameDecoder()
                decoder.append(stream.prefix(stream.count / 2))
                #expect(throws: Never.self) {
                    while try decoder.next() != nil {
                        // After a SASL outcome the stream starts again with a header.
                        if decoder.nextBytesAreProtocolHeader == true { decoder.expectProtocolHeader() }
                    }
                }
            }
        }
    }

    // MARK: Size and count fields

    /// Every size and count field of every frame body and message, at every depth, set to 0, one
    /// past the bytes left and the maximum: each fails with a typed error or decodes to
    /// something that round-trips (the targets' oracles).
    @Test("size and count fields of frame bodies and messages at every depth")
    func hostileFieldsInBodiesAndMessages() throws {
        var mutations = 0
        var refused = 0
        for (target, inputs) in [(FuzzTarget.performative, Self.bodies), (.message, Self.messages)] {
            for bytes in inputs {
                for field in EncodingFields.sizeAndCountFields(in: bytes) {
                    for value in EncodingFields.hostileValues(for: field, in: bytes) {
                        let mutated = EncodingFields.setting(field, to: value, in: bytes)
                        guard mutated != bytes else { continue }
                        mutations += 1
                        fast("\(target) \(field) = \(value)") {
                            #expect(throws: Never.self, "\(target) \(HexEncoding.string(bytes)): \(field) = \(value)") { try target.check(mutated) }
                        }
                        if !Self.decodesAsValues(mutated) { refused += 1 }
                    }
                }
            }
        }
        #expect(mutations > 800)
        #expect(refused > mutations * 9 / 10)
    }

    /// Whether `bytes` are a sequence of valid values (a performative and its payload's sections).
    static func decodesAsValues(_ bytes: [UInt8]) -> Bool {
        var decoder = AMQPDecoder(bytes)
        while !decoder.isAtEnd {
            guard (try? decoder.decodeValue()) != nil else { return false }
        }
        return true
    }

    /// The frame size field of every frame of a conversation, set to 0 (below the 8-byte header),
    /// one past the bytes left (the frame never completes) and 2³²−1 (above the limit).
    @Test("frame sizes below 8, past the end and above the limit, in streams and connections")
    func hostileFrameSizes() throws {
        for (target, streams) in [(FuzzTarget.listener, Self.clientStreams), (.client, Self.serverStreams)] {
            for stream in streams.prefix(1) {
                var offset = 0
                var frameOffsets: [Int] = []
                while offset < stream.count {
                    if stream[offset...].starts(with: [0x41, 0x4D, 0x51, 0x50]) {
                        offset += 8
                        continue
                    }
                    frameOffsets.append(offset)
                    offset += Int(stream[offset]) << 24 | Int(stream[offset + 1]) << 16 | Int(stream[offset + 2]) << 8 | Int(stream[offset + 3])
                }
                #expect(frameOffsets.count > 10)
                for frameOffset in frameOffsets {
                    let field = EncodingFields.Field(kind: .size, offset: frameOffset, width: 4)
                    for (value, expected) in [(UInt64(0), FramingError.Kind.frameTooSmall), (UInt64(stream.count - frameOffset + 1), nil), (0xFFFF_FFFF, .frameTooLarge)] {
                        let mutated = EncodingFields.setting(field, to: value, in: stream)
                        fast("\(target) frame at \(frameOffset) sized \(value)") {
                            #expect(throws: Never.self) { try target.check(mutated) }
                        }
                        var decoder = FrameDecoder(maxFrameSize: 1 << 20)
                        decoder.append(mutated)
                        var error: FramingError?
                        do {
                            while try decoder.next() != nil {
                                // After a SASL outcome the stream starts again with a header, as a connection reads it.
                                if decoder.nextBytesAreProtocolHeader == true { decoder.expectProtocolHeader() }
                            }
                        } catch let e {
                            error = e
                        }
                        #expect(error?.kind == expected, "frame at \(frameOffset) sized \(value): \(String(describing: error))")
                        #expect(decoder.bufferedCount <= stream.count)
                    }
                }
            }
        }
    }

    // MARK: Nesting

    /// Lists nested `levels` deep with honest 32-bit sizes, innermost null.
    static func nestedLists(_ levels: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(9 * levels + 1)
        for k in 0..<levels {
            let size = UInt32(4 + 9 * (levels - k - 1) + 1)
            bytes += [0xD0, UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16), UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size), 0, 0, 0, 1]
        }
        bytes.append(0x40)
        return bytes
    }

    /// A composite (`00 53 code` and a list32) whose fields are the given encodings.
    static func composite(_ code: UInt8, _ fields: [[UInt8]]) -> [UInt8] {
        let items = fields.flatMap { $0 }
        return [0x00, 0x53, code, 0xD0] + be32(UInt32(4 + items.count)) + be32(UInt32(fields.count)) + items
    }

    /// `open` from "peer" whose field `index` is `field` (the fields between are null).
    static func open(field index: Int, _ field: [UInt8]) -> [UInt8] {
        composite(0x10, [[0xA1, 0x04] + Array("peer".utf8)] + Array(repeating: [0x40], count: index - 1) + [field])
    }

    /// `open` whose `properties` (field 9) map holds one value: `value`.
    static func open(withProperty value: [UInt8]) -> [UInt8] {
        let pair: [UInt8] = [0xA3, 0x01, 0x6B] + value
        return open(field: 9, [0xD1] + be32(UInt32(4 + pair.count)) + be32(2) + pair)
    }

    static func frame(_ body: [UInt8], channel: UInt16 = 0) -> [UInt8] {
        be32(UInt32(8 + body.count)) + [2, 0, UInt8(channel >> 8), UInt8(truncatingIfNeeded: channel)] + body
    }

    @Test("a million levels inside an open, a message and a connection: depth-exceeded, fast")
    func millionLevelsInside() throws {
        let deep = Self.nestedLists(1_000_000)
        // In a performative field: the error names the field and wraps the depth error.
        let body = Self.open(withProperty: deep)
        let error = fast("open") { () -> AMQPDecodingError? in
            var decoder = AMQPDecoder(body)
            do throws(AMQPDecodingError) {
                _ = try decoder.decode(Performative.self)
                return nil
            } catch {
                return error
            }
        }
        #expect(error?.kind == .invalidField && error?.rootCause.kind == .depthExceeded, "\(String(describing: error))")
        // In a message's amqp-value section.
        let message = [0x00, 0x53, 0x77] + deep
        fast("message") {
            #expect(throws: AMQPDecodingError.self) { try Message(decoding: message) }
        }
        // In a frame a server reads: it closes with decode-error and holds no more than the frame.
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", maxFrameSize: 16 << 20))
        server.start(now: 0)
        fast("server") { server.receive(ProtocolHeader.amqp.bytes + Self.frame(body), now: 0) }
        #expect(server.takeEvents().contains { if case .closed(let e?, false) = $0 { return e.condition == .amqp(.decodeError) } else { return false } })
        #expect(server.isFinished)
        #expect(server.footprint.entries == 0)
    }

    /// A typed decoder must accept exactly the depths `decodeValue` accepts: the described value
    /// itself is one level (§1.2: a descriptor and its value form one constructor), so a typed
    /// decode that skipped it let a peer send one level the untyped decoder, and so the value
    /// re-encoded from it, refuse (the fuzz-performative finding of issue 7).
    @Test("typed and untyped decoders agree at the nesting limit",
          arguments: ["unknown performative", "open property", "amqp-value section"])
    func typedDepthMatchesUntyped(_ name: String) throws {
        func wrap(_ value: [UInt8]) -> [UInt8] {
            switch name {
            case "unknown performative": return [0x00, 0x53, 0xFF] + value
            case "open property": return Self.open(withProperty: value)
            default: return [0x00, 0x53, 0x77] + value
            }
        }
        func untyped(_ levels: Int) -> Bool {
            var decoder = AMQPDecoder(wrap(Self.nestedLists(levels)))
            return (try? decoder.decodeValue()) != nil
        }
        func typed(_ levels: Int) -> Bool {
            var decoder = AMQPDecoder(wrap(Self.nestedLists(levels)))
            if name == "amqp-value section" { return (try? MessageSection(from: &decoder)) != nil }
            return (try? Performative(from: &decoder)) != nil
        }
        let deepest = try #require((1...AMQPDecoder.Limits().maxDepth).last(where: untyped))
        #expect(!untyped(deepest + 1))
        #expect(typed(deepest), "\(name): \(deepest) levels")
        #expect(!typed(deepest + 1), "\(name): \(deepest + 1) levels")
    }

    // MARK: Arrays

    /// Bad arrays in a typed field (`open.offered-capabilities`, an array of symbols).
    @Test("arrays with a null constructor, a self-nesting described constructor and a zero-width count, in a performative",
          arguments: [
            ("null constructor", [0xE0, 0x02, 0x01, 0x40] as [UInt8], AMQPDecodingError.Kind.invalidArray),
            ("described constructor nesting itself", [0xE0, 0xFF, 0x01] + [UInt8](repeating: 0x00, count: 250) + [0x40, 0xA3, 0x00, 0x00, 0x00, 0x00], .depthExceeded),
            ("2³²−1 zero-width elements", [0xF0, 0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0x43], .limitExceeded),
          ])
    func badArraysInAField(_ name: String, _ array: [UInt8], _ kind: AMQPDecodingError.Kind) throws {
        let body = Self.open(field: 7, array)  // offered-capabilities
        var decoder = AMQPDecoder(body)
        do {
            let open = try decoder.decode(Performative.self)
            Issue.record("\(name): decoded \(open)")
        } catch {
            #expect(error.kind == .invalidField, "\(name): \(error)")
            #expect(error.rootCause.kind == kind, "\(name): \(error)")
            #expect(error.description.contains("open.offered-capabilities"), "\(error)")
        }
        #expect(throws: Never.self) { try FuzzTarget.performative.check(body) }
        #expect(throws: Never.self) { try FuzzTarget.listener.check(ProtocolHeader.amqp.bytes + Self.frame(body)) }
    }

    // MARK: UTF-8

    @Test("invalid UTF-8 in a performative, a message and a SASL frame: a typed error naming the field, and a clean end")
    func invalidUTF8() throws {
        let bad: [UInt8] = [0xA1, 0x03, 0x61, 0xC3, 0x28]
        // open.container-id
        let open = [0x00, 0x53, 0x10, 0xC0, UInt8(1 + bad.count), 0x01] + bad
        var decoder = AMQPDecoder(open)
        #expect(throws: AMQPDecodingError.self) { try decoder.decode(Performative.self) }
        do {
            var decoder = AMQPDecoder(open)
            _ = try decoder.decode(Performative.self)
        } catch {
            #expect(error.rootCause.kind == .invalidUTF8 && error.description.contains("open.container-id"), "\(error)")
        }
        var server = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s"))
        server.start(now: 0)
        server.receive(ProtocolHeader.amqp.bytes + Self.frame(open), now: 0)
        #expect(server.takeEvents().contains { if case .closed(let e?, false) = $0 { return e.condition == .amqp(.decodeError) } else { return false } })

        // properties.subject
        let properties = [0x00, 0x53, 0x73, 0xC0, UInt8(1 + 3 + bad.count), 0x04, 0x40, 0x40, 0x40] + bad
        do {
            _ = try Message(decoding: properties)
            Issue.record("decoded")
        } catch {
            #expect(error.rootCause.kind == .invalidUTF8 && error.description.contains("properties.subject"), "\(error)")
        }

        // sasl-init.hostname, read by a server: SASL fails, the connection with it.
        let saslInit = [0x00, 0x53, 0x41, 0xC0, UInt8(1 + 7 + 1 + bad.count), 0x03, 0xA3, 0x05] + Array("PLAIN".utf8) + [0x40] + bad
        var sasl = ConnectionEngine(configuration: ConnectionConfiguration(role: .server, containerID: "s", sasl: .server([AnonymousMechanism()], required: true)))
        sasl.start(now: 0)
        sasl.receive(ProtocolHeader.sasl.bytes + be32(UInt32(8 + saslInit.count)) + [2, 1, 0, 0] + saslInit, now: 0)
        #expect(sasl.isFinished)
        #expect(sasl.takeEvents().contains { if case .failed(.sasl) = $0 { return true } else { return false } })
    }

    // MARK: Frame sizes in connections

    @Test("a frame size below 8 or above the limit fails a connection before and after open, buffering nothing",
          arguments: [ConnectionConfiguration.Role.server, .client])
    func frameSizesInConnections(_ role: ConnectionConfiguration.Role) throws {
        let peerOpen = Self.frame(AMQPEncoder.encode(Open(containerID: "peer")))
        for (size, kind) in [(UInt32(7), FramingError.Kind.frameTooSmall), (513, .frameTooLarge), (0xFFFF_FFFF, .frameTooLarge)] {
            for afterOpen in [false, true] {
                var engine = ConnectionEngine(configuration: ConnectionConfiguration(role: role, containerID: "e", maxFrameSize: 512))
                engine.start(now: 0)
                let prefix = ProtocolHeader.amqp.bytes + (afterOpen ? peerOpen : [])
                engine.receive(prefix + be32(size) + [2, 0, 0, 0], now: 0)
                #expect(engine.isFinished)
                #expect(engine.footprint.bufferedBytes <= 8)
                let events = engine.takeEvents()
                // Once our open is out (a client writes it first), the peer is told why in a close.
                if afterOpen || role == .client {
                    #expect(events.contains { if case .closed(let e?, false) = $0 { return e.condition == .connection(.framingError) } else { return false } }, "\(size): \(events)")
                } else {
                    #expect(events.contains { if case .failed(.framing(let e)) = $0 { return e.kind == kind } else { return false } }, "\(size): \(events)")
                }
            }
        }
    }
}

func be32(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

extension AMQPDecoder {
    /// How many bytes the first `T` of the input takes.
    func decodingLength<T: AMQPDecodable>(of type: T.Type) throws(AMQPDecodingError) -> Int {
        var copy = self
        _ = try T(from: &copy)
        return copy.offset
    }
}
