import AMQPEventHubsProtocol
import Testing

/// The partition-key hash against values computed by others: Bob Jenkins' published lookup3
/// vectors, the hash codes and partition indices Microsoft's SDKs assert in their own tests, and a
/// table from Jenkins' reference C code for keys of every UTF-8 length from 0 to 40 bytes.
@Suite("Partition key hash (Jenkins lookup3, as the service computes it)")
struct PartitionResolverTests {
    static let fourScore = Array("Four score and seven years ago".utf8)

    @Test("Bob Jenkins' published hashlittle/hashlittle2 values (lookup3.c, driver5)")
    func publishedVectors() {
        func pair(_ key: [UInt8], _ primary: UInt32, _ secondary: UInt32) -> [UInt32] {
            let result = Lookup3.hashlittle2(key, primarySeed: primary, secondarySeed: secondary)
            return [result.primary, result.secondary]
        }
        #expect(pair([], 0, 0) == [0xDEAD_BEEF, 0xDEAD_BEEF])
        #expect(pair([], 0, 0xDEAD_BEEF) == [0xBD5B_7DDE, 0xDEAD_BEEF])
        #expect(pair([], 0xDEAD_BEEF, 0xDEAD_BEEF) == [0x9C09_3CCD, 0xBD5B_7DDE])
        #expect(pair(Self.fourScore, 0, 0) == [0x1777_0551, 0xCE72_26E6])
        #expect(pair(Self.fourScore, 0, 1) == [0xE360_7CAE, 0xBD37_1DE4])
        #expect(pair(Self.fourScore, 1, 0) == [0xCD62_8161, 0x6CBE_A4B3])
        #expect(Lookup3.hashlittle(Self.fourScore, seed: 0) == 0x1777_0551)
        #expect(Lookup3.hashlittle(Self.fourScore, seed: 1) == 0xCD62_8161)
    }

    /// `PartitionHashTestCases` in azure-sdk-for-net,
    /// `sdk/eventhub/Azure.Messaging.EventHubs/tests/Core/PartitionResolverTests.cs`.
    @Test("the hash codes the .NET SDK's PartitionResolverTests assert")
    func dotNetHashCodes() {
        let cases: [(String, Int16)] = [
            ("7", -15263),
            ("131", 30562),
            ("7149583486996073602", 12977),
            ("FWfAT", -22341),
            ("sOdeEAsyQoEuEFPGerWO", -6503),
            ("FAyAIctPeCgmiwLKbJcyswoHglHVjQdvtBowLACDNORsYvOcLddNJYDmhAVkbyLOrHTKLneMNcbgWVlasVywOByANjs", 5226),
            ("1XYM6!(7(lF5wq4k4m*e$Nc!1ezLJv*1YK1Y-C^*&B$O)lq^iUkG(TNzXG;Zi#z2Og*Qq0#^*k):vXh$3,C7We7%W0meJ;b3,rQCg^J;^twXgs5E$$hWKxqp", 23950),
            ("E(x;RRIaQcJs*P;D&jTPau-4K04oqr:lF6Z):ERpo&;9040qyV@G1_c9mgOs-8_8/10Fwa-7b7-yP!T-!IH&968)FWuI;(^g$2fN;)HJ^^yTn:", -29304),
            ("!c*_!I@1^c", 15372),
            ("p4*!jioeO/z-!-;w:dh", -3104),
            ("$0cb", 26269),
            ("-4189260826195535198", 453),
        ]
        for (key, expected) in cases {
            #expect(PartitionResolver.hashCode(forKey: key) == expected, "\(key)")
        }
    }

    /// azure-sdk-for-js, `sdk/eventhub/event-hubs/test/internal/mapPartitionKeyToId.spec.ts`
    /// ("created from outputs received from the C# implementation ... the Event Hubs service uses").
    @Test("the partition indices the JavaScript SDK's mapPartitionKeyToId tests assert")
    func javaScriptPartitionIndices() {
        #expect(PartitionResolver.partitionIndex(forKey: "alphabet", partitionCount: 3) == 0)
        #expect(PartitionResolver.partitionIndex(forKey: "alphabet", partitionCount: 11) == 4)
        #expect(PartitionResolver.partitionIndex(forKey: "TheBestParitionEver", partitionCount: 4) == 2)
        #expect(PartitionResolver.partitionIndex(forKey: "TheWorstParitionEver", partitionCount: 15) == 1)
    }

    @Test("a negative hash code maps to abs(h % n), % truncating toward zero")
    func negativeHashCodes() {
        // "7" hashes to -15263: -15263 % 4 == -3 → partition 3; % 32 == -31 → 31; % 1 → 0.
        #expect(PartitionResolver.partitionIndex(forKey: "7", partitionCount: 4) == 3)
        #expect(PartitionResolver.partitionIndex(forKey: "7", partitionCount: 32) == 31)
        #expect(PartitionResolver.partitionIndex(forKey: "7", partitionCount: 1) == 0)
        for count in 1...40 {
            for key in ["7", "131", "FWfAT", "", "ключ"] {
                #expect((0..<count).contains(PartitionResolver.partitionIndex(forKey: key, partitionCount: count)))
            }
        }
    }

    /// Every length from 0 to 40 bytes reaches each tail case of lookup3 (0 to 12 bytes left after
    /// 0 to 3 full blocks, the 12-byte tail that is not mixed as a block included), in ASCII and in
    /// keys whose UTF-8 holds 2-, 3- and 4-byte characters. The values come from Jenkins' reference
    /// `hashlittle2` (lookup3.c, byte-at-a-time path) compiled with gcc and fed these keys' bytes;
    /// the .NET and JavaScript SDKs' ports agree on them.
    @Test("keys of every UTF-8 length 0–40, ASCII and multi-byte, against Jenkins' reference code")
    func everyLength() {
        var asciiLengths = Set<Int>(), multiByteLengths = Set<Int>()
        for (key, primary, secondary, code) in Self.referenceTable {
            let bytes = Array(key.utf8)
            let result = Lookup3.hashlittle2(bytes)
            #expect(result.primary == primary && result.secondary == secondary, "\(key) (\(bytes.count) bytes)")
            #expect(PartitionResolver.hashCode(forKey: key) == code, "\(key)")
            // The same bytes at an odd address, and as a non-contiguous collection, hash the same.
            let shifted = [0x55] + bytes
            let unaligned = shifted.withUnsafeBytes { Lookup3.hashlittle2(UnsafeRawBufferPointer(rebasing: $0.dropFirst())) }
            #expect(unaligned.primary == primary && unaligned.secondary == secondary)
            #expect(Lookup3.hashlittle2(key.utf8.lazy.map { $0 }).primary == primary)
            if key.utf8.count == key.unicodeScalars.count { asciiLengths.insert(bytes.count) } else { multiByteLengths.insert(bytes.count) }
        }
        #expect(asciiLengths == Set(0...40))
        #expect(multiByteLengths == Set(2...40))
    }

    /// (key, hashlittle2 primary `c`, secondary `b`, the 16-bit hash code).
    static let referenceTable: [(String, UInt32, UInt32, Int16)] = [
        ("", 0xdeadbeef, 0xdeadbeef, 0),
        ("F", 0x276a0407, 0xdc2c981b, -25572),
        ("Fo", 0xc4f3b847, 0xf1209576, 11569),
        ("Fou", 0x3253e887, 0x281c6a5f, -32040),
        ("Four", 0xf0dbeea6, 0xb07a8b24, 25986),
        ("Four ", 0xa496ca89, 0x506d2c3a, -6477),
        ("Four s", 0xa2773e81, 0xb356aff3, -28302),
        ("Four sc", 0xa88b6e6c, 0x046f49bf, 10195),
        ("Four sco", 0x2ca474f0, 0x5fb89590, -7840),
        ("Four scor", 0xe38ce8aa, 0x33773e98, -10702),
        ("Four score", 0xdb610bd1, 0xab97ff33, -2846),
        ("Four score ", 0x17f84daf, 0xe7d4c1a5, -29686),
        ("Four score a", 0xccda323b, 0x1989c1e7, -3108),
        ("Four score an", 0x114345a2, 0xfdd181f5, -15273),
        ("Four score and", 0xc01e7c57, 0x0e5ebdbb, -15892),
        ("Four score and ", 0x636342ab, 0xc1ae47f5, 1374),
        ("Four score and s", 0x17bd0180, 0x0b34f342, -3390),
        ("Four score and se", 0xbed86ff9, 0x0299412d, 11988),
        ("Four score and sev", 0xae721167, 0xdb65a688, -18449),
        ("Four score and seve", 0x9bc026d8, 0xe78791a3, -18565),
        ("Four score and seven", 0xaf53f65a, 0x44421c03, -5543),
        ("Four score and seven ", 0xbad83ad7, 0x3aec8e71, -19290),
        ("Four score and seven y", 0xcf6e279e, 0xf4659d61, -17665),
        ("Four score and seven ye", 0x8806c437, 0xb8e42e64, -5549),
        ("Four score and seven yea", 0x4eaa9b13, 0x36091d4d, -31138),
        ("Four score and seven year", 0x2b885021, 0x4410ddb2, -29293),
        ("Four score and seven years", 0x769e8a62, 0x6fe433af, -17971),
        ("Four score and seven years ", 0x7e5372be, 0x89e4dcad, -20973),
        ("Four score and seven years a", 0xa70fa8be, 0x39cbbe69, 5847),
        ("Four score and seven years ag", 0x8b7a3c59, 0xe9b52ab5, 5868),
        ("Four score and seven years ago", 0x17770551, 0xce7226e6, 9143),
        ("Four score and seven years ago ", 0x6ec48da0, 0x3a353078, -16936),
        ("Four score and seven years ago o", 0xc2fb24e0, 0xb91a4c81, 26721),
        ("Four score and seven years ago ou", 0x6e4e0840, 0x9f7de0d5, -5995),
        ("Four score and seven years ago our", 0x73e36026, 0x0fee9578, -2722),
        ("Four score and seven years ago our ", 0xfda3c3c3, 0x083fbeb0, 32115),
        ("Four score and seven years ago our f", 0xe610a20e, 0xfab4b379, 4471),
        ("Four score and seven years ago our fa", 0x22d95b94, 0x0776f784, -21488),
        ("Four score and seven years ago our fat", 0x1ed142a7, 0xb6c2b347, -3616),
        ("Four score and seven years ago our fath", 0x2106bfbe, 0xe06f592c, -6510),
        ("Four score and seven years ago our fathe", 0xb4f81f3a, 0xb0ffc8c1, -10245),
        ("ä", 0x2830a1ba, 0xddbc2826, -30308),
        ("äk", 0x325c67d8, 0x75b7b427, -11265),
        ("äkk", 0xb4d8bd6c, 0x9b114fb7, -3365),
        ("ä€", 0x6f308d4c, 0x976500b5, -29191),
        ("ä€k", 0xe9e758ba, 0x8745a4a7, -995),
        ("ä€kk", 0x4a2f53b1, 0xafb68a3c, -9843),
        ("ä€kkk", 0x8d2c6252, 0x63442587, 18389),
        ("ä€😀", 0x4d909caa, 0x3e3caacd, 13927),
        ("ä€😀k", 0x3278ff0c, 0x4d8d8f83, 28815),
        ("ä€😀ß", 0x89f698a6, 0x0633f880, 24614),
        ("ä€😀ßk", 0xc979179e, 0x32370bc2, 7260),
        ("ä€😀ßkk", 0xc6df5984, 0x902dc7b7, -25037),
        ("ä€😀ß日", 0xc31a748b, 0x7de0b59f, -16108),
        ("ä€😀ß日k", 0xc882db23, 0x64bcf4fe, 12253),
        ("ä€😀ß日ä", 0xf0eb1549, 0x38a1b6ef, -23642),
        ("ä€😀ß日äk", 0x4a7523c2, 0xb042bde2, -25056),
        ("ä€😀ß日äkk", 0x216735b9, 0x1d8a0490, 12585),
        ("ä€😀ß日ä€", 0xf3e510ee, 0xadfefaa9, -5561),
        ("ä€😀ß日ä€k", 0xa8cad697, 0x3f3c66a7, -20432),
        ("ä€😀ß日ä€kk", 0xeaa45cc5, 0x67e4639c, 16217),
        ("ä€😀ß日ä€kkk", 0x6e20f03e, 0x56c6644a, -27532),
        ("ä€😀ß日ä€😀", 0xf860a435, 0xa9a8fe7b, 23118),
        ("ä€😀ß日ä€😀k", 0xf4a25d0f, 0xd638bdf8, -7945),
        ("ä€😀ß日ä€😀ß", 0x6235b8a6, 0x664a3065, -30525),
        ("ä€😀ß日ä€😀ßk", 0x455554fc, 0x59eab9a7, -4773),
        ("ä€😀ß日ä€😀ßkk", 0x5711ec01, 0x701325f2, -13837),
        ("ä€😀ß日ä€😀ß日", 0x343166b5, 0x07e420a4, 17937),
        ("ä€😀ß日ä€😀ß日k", 0x5eb9c009, 0x51a9b4aa, 29859),
        ("ä€😀ß日ä€😀ß日ä", 0x7901e5f1, 0x70da0b33, -4414),
        ("ä€😀ß日ä€😀ß日äk", 0xe9bda885, 0x761e9a09, 12940),
        ("ä€😀ß日ä€😀ß日äkk", 0xcea23935, 0x6ce0af19, -27092),
        ("ä€😀ß日ä€😀ß日ä€", 0xf9a8e033, 0x00dde651, 1634),
        ("ä€😀ß日ä€😀ß日ä€k", 0xbb10cb85, 0xa43308c9, -15540),
        ("ä€😀ß日ä€😀ß日ä€kk", 0x4aa52c31, 0xe0932b65, 1876),
        ("ä€😀ß日ä€😀ß日ä€kkk", 0xfca40bd9, 0x4eb4b0ca, -17645),
        ("ä€😀ß日ä€😀ß日ä€😀", 0xb463bddc, 0x677dd791, 27213),
        ("ä€😀ß日ä€😀ß日ä€😀k", 0xd2da4ea6, 0x5a88ef53, -24075),
        ("ä€😀ß日ä€😀ß日ä€😀ß", 0x91aa8bce, 0xabad2c9b, -22699),
        ("ä€😀ß日ä€😀ß日ä€😀ßk", 0x293c6b12, 0xbc4c6a87, 405),
    ]
}
