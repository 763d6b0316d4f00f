/// A FIFO queue on an array with a moving head: O(1) amortized push and pop, no dependency.
/// The engine queues deliveries in it; the transport and the Event Hubs layer use it for their
/// buffers, so that the head-and-compaction logic lives in one place.
// Inlinable, so that other modules get it specialized for their element types.
@frozen public struct FIFO<Element: Sendable>: Sendable {
    @usableFromInline var storage: [Element] = []
    @usableFromInline var head = 0

    /// An empty queue.
    @inlinable public init() {}

    /// Whether nothing is queued.
    @inlinable public var isEmpty: Bool { head == storage.count }
    /// How many elements are queued.
    @inlinable public var count: Int { storage.count - head }
    /// The oldest element, if any.
    @inlinable public var first: Element? { isEmpty ? nil : storage[head] }

    /// Queues `element` last.
    @inlinable public mutating func append(_ element: Element) { storage.append(element) }

    /// Queues `elements` last, in order.
    @inlinable public mutating func append<S: Sequence>(contentsOf elements: S) where S.Element == Element { storage.append(contentsOf: elements) }

    /// Puts `element` back first (a message released or requeued).
    @inlinable public mutating func pushFront(_ element: Element) {
        if head > 0 {
            head -= 1
            storage[head] = element
        } else {
            storage.insert(element, at: 0)
        }
    }

    /// Takes the oldest element; the storage is compacted once the head passes half of it.
    @inlinable public mutating func removeFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head > 64 && head * 2 > storage.count {
            storage.removeSubrange(0..<head)
            head = 0
        }
        return element
    }

    /// Mutates the first element in place.
    @inlinable public mutating func withFirst<R>(_ body: (inout Element) -> R) -> R? {
        guard head < storage.count else { return nil }
        return body(&storage[head])
    }

    /// Forgets every element.
    @inlinable public mutating func removeAll() {
        storage.removeAll()
        head = 0
    }

    /// The queued elements, oldest first.
    @inlinable public var elements: ArraySlice<Element> { storage[head...] }
}
