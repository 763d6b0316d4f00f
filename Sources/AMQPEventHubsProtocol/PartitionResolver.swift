/// Where Event Hubs puts an event sent with a partition key, computed the way the service does it,
/// so that the emulator stores a key in the partition Azure would, and a client that routes keys
/// itself (the buffered producer) sends each key to that same partition.
///
/// The rule is the one Microsoft's SDKs call "a direct port of the Event Hubs service code"
/// (`PartitionResolver.GenerateHashCode` in azure-sdk-for-net,
/// `sdk/eventhub/Azure.Messaging.EventHubs/src/Core/PartitionResolver.cs`; the Java SDK's
/// `com.azure.messaging.eventhubs.PartitionResolver` and the JavaScript SDK's
/// `src/impl/partitionKeyToIdMapper.ts` port the same code): Bob Jenkins' lookup3 `hashlittle2`
/// over the key's UTF-8 bytes with both seeds 0, the two 32-bit results XORed and truncated to a
/// signed 16-bit value, then `abs(hash % partitionCount)` with `%` truncating toward zero.
public enum PartitionResolver {
    /// The service's 16-bit hash code of a partition key.
    public static func hashCode(forKey key: String) -> Int16 {
        var key = key
        let (primary, secondary) = key.withUTF8 { Lookup3.hashlittle2(UnsafeRawBufferPointer($0)) }
        return Int16(truncatingIfNeeded: primary ^ secondary)
    }

    /// The index (0 ..< `partitionCount`) of the partition that receives events sent with `key`.
    /// Partition ids are the decimal indices, so this is also the id.
    ///
    /// - Precondition: `partitionCount > 0` (a hub always has a partition; callers check counts
    ///   that come from the network before asking).
    public static func partitionIndex(forKey key: String, partitionCount: Int) -> Int {
        precondition(partitionCount > 0, "a hub has at least one partition")
        // Swift's `%` truncates toward zero like C#'s, so the sign rule matches the SDKs'.
        return abs(Int(hashCode(forKey: key)) % partitionCount)
    }
}

/// Bob Jenkins' lookup3 hash (2006, public domain), little-endian variant: the hash the Event Hubs
/// service applies to partition keys. Bytes are read one at a time and assembled little-endian, so
/// the result does not depend on the machine's byte order or the buffer's alignment.
public enum Lookup3 {
    /// `hashlittle2`: two 32-bit hashes of `key`. `primarySeed` and `secondarySeed` are the values
    /// Jenkins' `*pc` and `*pb` hold on entry; the result is what they hold on return.
    public static func hashlittle2(_ key: UnsafeRawBufferPointer, primarySeed: UInt32 = 0,
                                   secondarySeed: UInt32 = 0) -> (primary: UInt32, secondary: UInt32) {
        // lookup3 adds the length as a 32-bit value; longer keys wrap it, as the C code does.
        var a = 0xDEAD_BEEF &+ UInt32(truncatingIfNeeded: key.count) &+ primarySeed
        var b = a
        var c = a &+ secondarySeed

        @inline(__always) func word(_ at: Int, _ count: Int) -> UInt32 {
            var value: UInt32 = 0
            for index in 0..<count { value |= UInt32(key[at + index]) << (8 * UInt32(index)) }
            return value
        }

        var offset = 0
        var remaining = key.count
        // Every block but the last, even when the last one is a full 12 bytes.
        while remaining > 12 {
            a &+= word(offset, 4)
            b &+= word(offset + 4, 4)
            c &+= word(offset + 8, 4)
            mix(&a, &b, &c)
            offset += 12
            remaining -= 12
        }
        // The last 0 to 12 bytes fill a, then b, then c, low byte first.
        if remaining == 0 { return (c, b) }
        a &+= word(offset, min(remaining, 4))
        if remaining > 4 { b &+= word(offset + 4, min(remaining - 4, 4)) }
        if remaining > 8 { c &+= word(offset + 8, remaining - 8) }
        finalMix(&a, &b, &c)
        return (c, b)
    }

    /// `hashlittle2` over any byte collection.
    public static func hashlittle2(_ key: some Collection<UInt8>, primarySeed: UInt32 = 0,
                                   secondarySeed: UInt32 = 0) -> (primary: UInt32, secondary: UInt32) {
        if let result = key.withContiguousStorageIfAvailable({
            hashlittle2(UnsafeRawBufferPointer($0), primarySeed: primarySeed, secondarySeed: secondarySeed)
        }) {
            return result
        }
        return Array(key).withUnsafeBytes { hashlittle2($0, primarySeed: primarySeed, secondarySeed: secondarySeed) }
    }

    /// `hashlittle`: the primary hash alone, with one seed.
    public static func hashlittle(_ key: some Collection<UInt8>, seed: UInt32 = 0) -> UInt32 {
        hashlittle2(key, primarySeed: seed, secondarySeed: 0).primary
    }

    @inline(__always) static func rotate(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }

    @inline(__always) static func mix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        a &-= c; a ^= rotate(c, 4); c &+= b
        b &-= a; b ^= rotate(a, 6); a &+= c
        c &-= b; c ^= rotate(b, 8); b &+= a
        a &-= c; a ^= rotate(c, 16); c &+= b
        b &-= a; b ^= rotate(a, 19); a &+= c
        c &-= b; c ^= rotate(b, 4); b &+= a
    }

    @inline(__always) static func finalMix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        c ^= b; c &-= rotate(b, 14)
        a ^= c; a &-= rotate(c, 11)
        b ^= a; b &-= rotate(a, 25)
        c ^= b; c &-= rotate(b, 16)
        a ^= c; a &-= rotate(c, 4)
        b ^= a; b &-= rotate(a, 14)
        c ^= b; c &-= rotate(b, 24)
    }
}
