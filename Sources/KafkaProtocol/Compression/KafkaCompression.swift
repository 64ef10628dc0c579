import NIOCore

/// The compression codecs of record batches: gzip (zlib), snappy (raw; xerial-framed accepted on
/// read), lz4 (LZ4 frame format) and zstd.
public enum KafkaCompression {
    /// Compresses the readable bytes of `input`, appending the result to `output`.
    /// - Parameter level: codec-specific level; nil for the codec's default.
    /// - Throws: ``KafkaProtocolError/compression(codec:reason:)`` when the codec library fails.
    public static func compress(
        _ input: ByteBuffer, codec: KafkaCompressionCodec, level: Int32? = nil, into output: inout ByteBuffer
    ) throws {
        switch codec {
        case .none:
            output.writeImmutableBuffer(input)
        case .gzip: try GzipCodec.compress(input, level: level, into: &output)
        case .snappy: try SnappyCodec.compress(input, into: &output)
        case .lz4: try LZ4Codec.compress(input, level: level, into: &output)
        case .zstd: try ZstdCodec.compress(input, level: level, into: &output)
        }
    }

    /// Decompresses the readable bytes of `input`. The output grows as data comes out and never
    /// beyond `maxOutputBytes`; sizes announced in the compressed data are not trusted.
    /// - Throws: ``KafkaProtocolError/compression(codec:reason:)`` when the data is malformed,
    ///   truncated, or decompresses to more than `maxOutputBytes`.
    public static func decompress(
        _ input: ByteBuffer, codec: KafkaCompressionCodec, maxOutputBytes: Int
    ) throws -> ByteBuffer {
        try decompress(input, codec: codec, maxOutputBytes: maxOutputBytes, legacyLZ4HeaderChecksum: false)
    }

    /// `legacyLZ4HeaderChecksum`: magic 0 messages were written with a wrong LZ4 frame header
    /// checksum (KAFKA-3160); accept it.
    static func decompress(
        _ input: ByteBuffer, codec: KafkaCompressionCodec, maxOutputBytes: Int, legacyLZ4HeaderChecksum: Bool
    ) throws -> ByteBuffer {
        switch codec {
        case .none:
            guard input.readableBytes <= maxOutputBytes else {
                throw KafkaProtocolError.compression(codec: codec.description, reason: "output exceeds \(maxOutputBytes) bytes")
            }
            return input
        case .gzip: return try GzipCodec.decompress(input, maxOutputBytes: maxOutputBytes)
        case .snappy: return try SnappyCodec.decompress(input, maxOutputBytes: maxOutputBytes)
        case .lz4:
            return try LZ4Codec.decompress(
                input, maxOutputBytes: maxOutputBytes, legacyHeaderChecksum: legacyLZ4HeaderChecksum)
        case .zstd: return try ZstdCodec.decompress(input, maxOutputBytes: maxOutputBytes)
        }
    }
}
