import CZlib
import NIOCore

/// Kafka's "gzip": a gzip stream (RFC 1952) written with zlib, windowBits 15 + 16. Reading
/// auto-detects gzip or zlib headers (15 + 32) and accepts concatenated gzip members.
enum GzipCodec {
    static func compress(_ input: ByteBuffer, level: Int32?, into output: inout ByteBuffer) throws {
        var stream = z_stream()
        let rc = deflateInit2_(
            &stream, level ?? Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw failure("deflateInit2 failed (\(rc))") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.readableBytes)))
        try input.withUnsafeReadableBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(source.count)
            _ = try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                stream.next_out = destination.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(min(destination.count, Int(UInt32.max)))
                let rc = deflate(&stream, Z_FINISH)
                guard rc == Z_STREAM_END else { throw failure("deflate failed (\(rc))") }
                return Int(stream.total_out)
            }
        }
    }

    static func decompress(_ input: ByteBuffer, maxOutputBytes: Int) throws -> ByteBuffer {
        var stream = z_stream()
        let rc = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw failure("inflateInit2 failed (\(rc))") }
        defer { inflateEnd(&stream) }
        var output = BoundedOutput(
            initialCapacity: max(64 * 1024, input.readableBytes * 4), limit: maxOutputBytes, codec: .gzip)
        try input.withUnsafeReadableBytes { source in
            guard let base = source.baseAddress, source.count > 0 else { throw failure("empty input") }
            stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(source.count)
            while true {
                try output.ensureWritable()
                let rc = output.write { destination -> (written: Int, result: Int32) in
                    stream.next_out = destination.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(destination.count)
                    let rc = inflate(&stream, Z_NO_FLUSH)
                    return (destination.count - Int(stream.avail_out), rc)
                }
                switch rc {
                case Z_STREAM_END:
                    // Another gzip member may follow (RFC 1952 allows concatenation); anything else is ignored.
                    let remaining = Int(stream.avail_in)
                    let consumed = source.count - remaining
                    if remaining >= 2, source[consumed] == 0x1F, source[consumed + 1] == 0x8B {
                        inflateReset(&stream)
                        continue
                    }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { throw failure("truncated stream") }
                    continue  // out of output space: ensureWritable grows or throws at the limit
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                    throw failure(message)
                }
            }
        }
        return try output.finish()
    }

    static func failure(_ reason: String) -> KafkaProtocolError {
        .compression(codec: "gzip", reason: reason)
    }
}
