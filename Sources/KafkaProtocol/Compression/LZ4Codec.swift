import CLZ4
import NIOCore

/// Kafka's lz4: the LZ4 frame format (magic 04 22 4D 18) with independent 64 KiB blocks, as
/// librdkafka and the Java client write it.
enum LZ4Codec {
    static func compress(_ input: ByteBuffer, level: Int32?, into output: inout ByteBuffer) throws {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.compressionLevel = level ?? 0
        let bound = LZ4F_compressFrameBound(input.readableBytes, &preferences)
        try input.withUnsafeReadableBytes { source in
            _ = try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                let written = LZ4F_compressFrame(
                    destination.baseAddress, destination.count, source.baseAddress, source.count, &preferences)
                guard LZ4F_isError(written) == 0 else { throw failure(written) }
                return written
            }
        }
    }

    /// - Parameter legacyHeaderChecksum: accept the wrong frame header checksum of magic 0
    ///   messages (KAFKA-3160: computed over the magic number too).
    static func decompress(_ input: ByteBuffer, maxOutputBytes: Int, legacyHeaderChecksum: Bool = false) throws -> ByteBuffer {
        var input = input
        if legacyHeaderChecksum { fixLegacyHeaderChecksum(&input) }
        return try decompressionContexts.withContext(codec: "lz4") { context in
            // A pooled context may hold the state of a failed frame.
            LZ4F_resetDecompressionContext(context)
            return try decompress(input, maxOutputBytes: maxOutputBytes, context: context)
        }
    }

    static let decompressionContexts = CodecContextPool(
        create: {
            var context: OpaquePointer?
            let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
            return LZ4F_isError(created) == 0 ? context : nil
        },
        destroy: { _ = LZ4F_freeDecompressionContext($0) })

    private static func decompress(_ input: ByteBuffer, maxOutputBytes: Int, context: OpaquePointer) throws -> ByteBuffer {
        // Sized from the frame's blocks when they can be walked: the estimate (4x the input, rounded up to a
        // power of two) gave 4 MiB buffers for 1 MB batches.
        let bound = input.withUnsafeReadableBytes { outputSizeBound($0) }
        var output = BoundedOutput(
            initialCapacity: bound ?? max(64 * 1024, input.readableBytes * 4), limit: maxOutputBytes, codec: .lz4)
        try input.withUnsafeReadableBytes { source in
            guard let base = source.baseAddress, source.count > 0 else { throw failure(reason: "empty input") }
            var consumed = 0
            var frameComplete = false
            while !(frameComplete && consumed == source.count) {
                // With the bound, the output is exactly full before the end mark is read; making room then
                // would double it. Should it be short after all, the no-progress branch below grows it.
                if bound == nil { try output.ensureWritable() }
                let step = output.write { destination -> (written: Int, result: (used: Int, produced: Int, code: Int)) in
                    var destinationSize = destination.count
                    var sourceSize = source.count - consumed
                    let code = LZ4F_decompress(
                        context, destination.baseAddress, &destinationSize, base + consumed, &sourceSize, nil)
                    if LZ4F_isError(code) != 0 { return (0, (0, 0, code)) }
                    return (destinationSize, (sourceSize, destinationSize, code))
                }
                if LZ4F_isError(step.code) != 0 { throw failure(step.code) }
                consumed += step.used
                frameComplete = step.code == 0
                if step.used == 0 && step.produced == 0 && !frameComplete {
                    if consumed == source.count { throw failure(reason: "truncated frame") }
                    // No progress with room to spare: grow (bounded by the limit) rather than spin.
                    try output.ensureWritable(atLeast: output.allowedBytes * 2 + 1)
                }
            }
        }
        return try output.finish()
    }

    /// An upper bound of the size the LZ4 frame in `source` decompresses to, from its header and block
    /// headers, without decompressing: per block, the block maximum size (a block never decompresses to more;
    /// all but the last are usually full), or less where the block's own size bounds it. Nil unless `source` is exactly one frame
    /// whose block headers are consistent; the caller then estimates and grows.
    static func outputSizeBound(_ source: UnsafeRawBufferPointer) -> Int? {
        let count = source.count
        guard count >= 7, source.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: 0x184D_2204) else {
            return nil
        }
        let flags = source[4]
        guard flags >> 6 == 1 else { return nil }  // frame format version 01
        let blockMax: Int
        switch (source[5] >> 4) & 0x7 {
        case 4: blockMax = 64 << 10
        case 5: blockMax = 256 << 10
        case 6: blockMax = 1 << 20
        case 7: blockMax = 4 << 20
        default: return nil
        }
        // FLG, BD, the optional content size and dictionary id, the header checksum.
        var index = 6 + (flags & 0x08 != 0 ? 8 : 0) + (flags & 0x01 != 0 ? 4 : 0) + 1
        let blockChecksumBytes = flags & 0x10 != 0 ? 4 : 0
        var bound = 0
        while true {
            guard index <= count - 4 else { return nil }
            let word = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index, as: UInt32.self))
            index += 4
            if word == 0 { break }  // end mark
            let size = Int(word & 0x7FFF_FFFF)
            guard size <= blockMax, size <= count - index else { return nil }
            index += size + blockChecksumBytes
            // A stored block is its own size; a compressed one yields at most 255 bytes per byte (each match
            // length byte adds at most 255), so a frame of tiny blocks that claims 4 MiB ones cannot make
            // this reserve hundreds of megabytes.
            bound += word & 0x8000_0000 != 0 ? size : min(blockMax, size * 255 + 64)
        }
        index += flags & 0x04 != 0 ? 4 : 0  // content checksum
        guard index == count else { return nil }
        return bound
    }

    /// Rewrites the frame header checksum byte with the correct value: second byte of XXH32 (seed 0)
    /// of the frame descriptor (FLG, BD and the optional content size and dictionary id).
    static func fixLegacyHeaderChecksum(_ input: inout ByteBuffer) {
        let start = input.readerIndex
        guard input.readableBytes >= 7,
            input.getInteger(at: start, endianness: .little, as: UInt32.self) == 0x184D_2204,
            let flags = input.getInteger(at: start + 4, as: UInt8.self)
        else { return }
        let descriptorLength = 2 + (flags & 0x08 != 0 ? 8 : 0) + (flags & 0x01 != 0 ? 4 : 0)
        guard input.readableBytes >= 4 + descriptorLength + 1,
            let descriptor = input.getBytes(at: start + 4, length: descriptorLength)
        else { return }
        let checksum = UInt8(truncatingIfNeeded: xxh32Short(descriptor) >> 8)
        input.setInteger(checksum, at: start + 4 + descriptorLength)
    }

    /// XXH32 with seed 0 of fewer than 16 bytes (the frame descriptor).
    static func xxh32Short(_ bytes: [UInt8]) -> UInt32 {
        precondition(bytes.count < 16)
        let prime1: UInt32 = 0x9E37_79B1
        let prime2: UInt32 = 0x85EB_CA77
        let prime3: UInt32 = 0xC2B2_AE3D
        let prime4: UInt32 = 0x27D4_EB2F
        let prime5: UInt32 = 0x1656_67B1
        func rotateLeft(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
        var hash = prime5 &+ UInt32(bytes.count)
        var index = 0
        while index + 4 <= bytes.count {
            let word =
                UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
                | UInt32(bytes[index + 3]) << 24
            hash = rotateLeft(hash &+ word &* prime3, 17) &* prime4
            index += 4
        }
        while index < bytes.count {
            hash = rotateLeft(hash &+ UInt32(bytes[index]) &* prime5, 11) &* prime1
            index += 1
        }
        hash ^= hash >> 15
        hash &*= prime2
        hash ^= hash >> 13
        hash &*= prime3
        hash ^= hash >> 16
        return hash
    }

    static func failure(_ code: Int) -> KafkaProtocolError {
        .compression(codec: "lz4", reason: String(cString: LZ4F_getErrorName(code)))
    }

    static func failure(reason: String) -> KafkaProtocolError {
        .compression(codec: "lz4", reason: reason)
    }
}
