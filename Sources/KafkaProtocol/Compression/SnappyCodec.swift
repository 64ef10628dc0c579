import CSnappy
import NIOCore

/// Snappy: raw snappy blocks (what librdkafka and this library write) and the xerial framing that
/// Java clients write (magic `82 'SNAPPY' 00`, version int32, compatible version int32, then
/// big-endian int32 length-prefixed raw blocks). Reading detects the framing by its magic.
enum SnappyCodec {
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let xerialHeaderSize = 16
    /// A snappy element expands at most 64 bytes out of 3 (a copy with a 2-byte offset), so an
    /// announced length beyond this ratio is forged.
    static let maximumExpansion = 22

    static func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws {
        let bound = snappy_max_compressed_length(input.readableBytes)
        try input.withUnsafeReadableBytes { source in
            _ = try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                var length = destination.count
                let status = withSource(source) {
                    snappy_compress($0, source.count, destination.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
                }
                guard status == SNAPPY_OK else { throw failure("snappy_compress failed (\(status.rawValue))") }
                return length
            }
        }
    }

    static func isXerialFramed(_ input: ByteBuffer) -> Bool {
        input.readableBytes >= xerialHeaderSize
            && input.readableBytesView.prefix(xerialMagic.count).elementsEqual(xerialMagic)
    }

    static func decompress(_ input: ByteBuffer, maxOutputBytes: Int) throws -> ByteBuffer {
        var output = BoundedOutput(initialCapacity: 0, limit: maxOutputBytes, codec: .snappy)
        if isXerialFramed(input) {
            var framed = input
            framed.moveReaderIndex(forwardBy: xerialHeaderSize)
            while framed.readableBytes > 0 {
                guard let length = framed.readInteger(endianness: .big, as: Int32.self),
                    length >= 0, let block = framed.readSlice(length: Int(length))
                else {
                    throw failure("truncated or malformed xerial block")
                }
                try decompressBlock(block, into: &output)
            }
        } else {
            try decompressBlock(input, into: &output)
        }
        return try output.finish()
    }

    private static func decompressBlock(_ block: ByteBuffer, into output: inout BoundedOutput) throws {
        try block.withUnsafeReadableBytes { source in
            try withSource(source) { compressed in
            var length = 0
            guard snappy_uncompressed_length(compressed, source.count, &length) == SNAPPY_OK else {
                throw failure("malformed length header")
            }
            guard length <= source.count * maximumExpansion else {
                throw failure("announced length \(length) impossible for \(source.count) compressed bytes")
            }
            guard length > 0 else { return }
            try output.ensureWritable(atLeast: length)
            try output.write { destination -> (written: Int, result: Void) in
                var written = destination.count
                let status = snappy_uncompress(
                    compressed, source.count, destination.baseAddress!.assumingMemoryBound(to: CChar.self), &written)
                guard status == SNAPPY_OK, written == length else { throw failure("malformed data") }
                return (written, ())
            }
            }
        }
    }

    /// A `const char *` for the C API, also for an empty buffer (whose base address may be nil).
    private static func withSource<R>(
        _ source: UnsafeRawBufferPointer, _ body: (UnsafePointer<CChar>) throws -> R
    ) rethrows -> R {
        if let base = source.baseAddress { return try body(base.assumingMemoryBound(to: CChar.self)) }
        var zero: CChar = 0
        return try withUnsafePointer(to: &zero) { try body($0) }
    }

    static func failure(_ reason: String) -> KafkaProtocolError {
        .compression(codec: "snappy", reason: reason)
    }
}
