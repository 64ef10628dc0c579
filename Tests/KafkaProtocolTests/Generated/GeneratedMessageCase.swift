import KafkaProtocol
import NIOCore

/// What the generic generated-message tests need from a generated type. Every generated type conforms
/// (see Samples/GeneratedMessageCases.swift); `sample(version:)` comes from Samples/*+Sample.swift.
protocol GeneratedCodable: Equatable, SendableMetatype {
    init(from buffer: inout ByteBuffer, version: Int16) throws
    func encode(into buffer: inout ByteBuffer, version: Int16) throws
    static func sample(version: Int16, nulls: Bool) -> Self
}

/// The outcome of encoding a sample and decoding it back.
struct GeneratedRoundTrip {
    var encoded: ByteBuffer
    var decodedEqualsSample: Bool
    var leftoverBytes: Int
    var reencoded: ByteBuffer
}

/// One generated message type, type-erased so that Swift Testing can parameterise over all of them.
struct GeneratedMessageCase: Sendable, CustomStringConvertible {
    let name: String
    let versions: ClosedRange<Int16>
    let roundTrip: @Sendable (_ version: Int16, _ nulls: Bool) throws -> GeneratedRoundTrip
    let decode: @Sendable (inout ByteBuffer, Int16) throws -> Void
    /// Decodes at a version (throwing the decode error) and returns the outcome of encoding what was decoded
    /// again at that version (the fuzz tests' oracle).
    let decodeAndReencode: @Sendable (inout ByteBuffer, Int16) throws -> Result<ByteBuffer, any Error>

    init<T: GeneratedCodable>(_: T.Type, versions: ClosedRange<Int16>) {
        name = String(describing: T.self)
        self.versions = versions
        roundTrip = { version, nulls in
            let sample = T.sample(version: version, nulls: nulls)
            var buffer = ByteBuffer()
            try sample.encode(into: &buffer, version: version)
            let encoded = buffer
            let decoded = try T(from: &buffer, version: version)
            var reencoded = ByteBuffer()
            try decoded.encode(into: &reencoded, version: version)
            return GeneratedRoundTrip(
                encoded: encoded, decodedEqualsSample: decoded == sample,
                leftoverBytes: buffer.readableBytes, reencoded: reencoded)
        }
        decode = { buffer, version in _ = try T(from: &buffer, version: version) }
        decodeAndReencode = { buffer, version in
            let decoded = try T(from: &buffer, version: version)
            return Result {
                var reencoded = ByteBuffer()
                try decoded.encode(into: &reencoded, version: version)
                return reencoded
            }
        }
    }

    var description: String { name }
}
