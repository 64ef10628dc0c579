import NIOCore

/// The growing output buffer of a decompressor: starts small, doubles on demand and never grows
/// past `limit`, whatever sizes the compressed data announces.
struct BoundedOutput {
    var buffer: ByteBuffer
    let limit: Int
    let codec: KafkaCompressionCodec

    init(initialCapacity: Int, limit: Int, codec: KafkaCompressionCodec) {
        self.limit = limit
        self.codec = codec
        // One byte beyond the limit lets a decoder finish a stream that ends exactly at the limit;
        // `finish()` rejects outputs that used it.
        buffer = ByteBufferAllocator().buffer(capacity: max(0, min(initialCapacity, limit + 1)))
    }

    /// Bytes the next decoder call may write.
    var allowedBytes: Int { min(buffer.writableBytes, limit + 1 - buffer.writerIndex) }

    /// Makes room for at least one more byte, or throws when the limit is reached.
    mutating func ensureWritable(atLeast minimum: Int = 1) throws {
        if allowedBytes >= minimum { return }
        let needed = buffer.writerIndex + minimum
        guard needed <= limit + 1 else { throw exceeded() }
        let target = min(limit + 1, max(needed, buffer.capacity * 2, 4096))
        buffer.reserveCapacity(target)
    }

    /// Runs `body` on the writable bytes the decoder may fill; `body` returns how many it wrote.
    mutating func write<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> (written: Int, result: R)) rethrows -> R {
        let allowed = allowedBytes
        var result: R?
        _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { raw -> Int in
            let (written, r) = try body(UnsafeMutableRawBufferPointer(rebasing: raw[..<allowed]))
            result = r
            return written
        }
        return result!
    }

    func exceeded() -> KafkaProtocolError {
        .compression(codec: codec.description, reason: "decompressed data exceeds \(limit) bytes")
    }

    /// The output, after checking the limit.
    consuming func finish() throws -> ByteBuffer {
        guard buffer.readableBytes <= limit else { throw exceeded() }
        return buffer
    }
}
