import KafkaProtocol
import NIOCore
import Testing

@Suite("Generated messages: round trip and robustness")
struct GeneratedRoundTripTests {
    @Test("every message at every version round-trips with non-default values", arguments: generatedMessageCases)
    func roundTrip(_ message: GeneratedMessageCase) throws {
        for version in message.versions {
            for nulls in [false, true] {
                let result = try message.roundTrip(version, nulls)
                #expect(result.decodedEqualsSample, "\(message) v\(version) nulls: \(nulls): decoded differs from the sample")
                #expect(result.leftoverBytes == 0, "\(message) v\(version) nulls: \(nulls): left \(result.leftoverBytes) bytes")
                #expect(result.reencoded == result.encoded, "\(message) v\(version) nulls: \(nulls): re-encodes differently")
            }
        }
    }

    @Test("every proper prefix of an encoded message fails to decode with an error", arguments: generatedMessageCases)
    func truncatedInputThrows(_ message: GeneratedMessageCase) throws {
        for version in message.versions {
            let encoded = try message.roundTrip(version, false).encoded
            for length in 0..<encoded.readableBytes {
                var prefix = encoded.getSlice(at: encoded.readerIndex, length: length)!
                #expect(throws: KafkaProtocolError.self, "\(message) v\(version) prefix \(length)") {
                    try message.decode(&prefix, version)
                }
            }
        }
    }

    @Test("mutated input never crashes: it decodes or throws KafkaProtocolError", arguments: generatedMessageCases)
    func mutatedInputDoesNotCrash(_ message: GeneratedMessageCase) throws {
        var rng = SplitMix64(seed: UInt64(truncatingIfNeeded: message.name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }))
        for version in message.versions {
            let encoded = try message.roundTrip(version, version % 2 == 1).encoded
            guard encoded.readableBytes > 0 else { continue }
            for _ in 0..<50 {
                var bytes = Array(encoded.readableBytesView)
                for _ in 0...(rng.next() % 3) {
                    let index = Int(rng.next() % UInt64(bytes.count))
                    bytes[index] = UInt8(truncatingIfNeeded: rng.next())
                }
                var buffer = ByteBuffer(bytes: bytes)
                do {
                    try message.decode(&buffer, version)
                } catch is KafkaProtocolError {
                    // expected for most mutations
                }
            }
        }
    }

    @Test("random input never crashes: it decodes or throws KafkaProtocolError", arguments: generatedMessageCases)
    func randomInputDoesNotCrash(_ message: GeneratedMessageCase) throws {
        var rng = SplitMix64(seed: UInt64(truncatingIfNeeded: message.name.utf8.count &* 7919))
        for version in message.versions {
            for _ in 0..<40 {
                let count = Int(rng.next() % 96)
                var buffer = ByteBuffer(bytes: (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                do {
                    try message.decode(&buffer, version)
                } catch is KafkaProtocolError {
                    // expected for most inputs
                }
            }
        }
    }

    @Test("unsupported versions are rejected", arguments: generatedMessageCases)
    func unsupportedVersion(_ message: GeneratedMessageCase) throws {
        guard message.name.hasSuffix("Request") || message.name.hasSuffix("Response") else { return }
        var empty = ByteBuffer()
        #expect(throws: KafkaProtocolError.unsupportedVersion(message: message.name, version: message.versions.upperBound + 1)) {
            try message.decode(&empty, message.versions.upperBound + 1)
        }
    }
}

/// Small deterministic PRNG so that failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
