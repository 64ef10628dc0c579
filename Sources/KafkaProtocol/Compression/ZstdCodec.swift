import CZstd
import NIOCore

/// Zstandard frames (RFC 8878), one-shot compressed; decompressed as a stream so that the output
/// grows under a cap, whatever content size a frame announces.
enum ZstdCodec {
    /// Largest window a frame may ask for: 2^27 (128 MiB), zstd's own default limit and what Kafka's Java
    /// consumer accepts. Java producers stream zstd with no content size, so at levels 21 and 22 (KIP-390)
    /// their frames announce 64 and 128 MiB windows; a lower limit would make such batches unreadable.
    static let windowLogMax: Int32 = 27
    static let defaultLevel: Int32 = 3

    /// Contexts whose workspace sits in huge pages (`klife_zstd_create_cctx`): the same output, less CPU.
    static let compressionContexts = CodecContextPool(
        create: { klife_zstd_create_cctx() }, destroy: { ZSTD_freeCCtx($0) })
    static let decompressionContexts = CodecContextPool(
        create: {
            guard let context = ZSTD_createDCtx() else { return nil }
            ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, windowLogMax)
            return context
        },
        destroy: { ZSTD_freeDCtx($0) })

    static func compress(_ input: ByteBuffer, level: Int32?, into output: inout ByteBuffer) throws {
        let bound = ZSTD_compressBound(input.readableBytes)
        try compressionContexts.withContext(codec: "zstd") { context in
        try input.withUnsafeReadableBytes { source in
            _ = try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                let written = ZSTD_compressCCtx(
                    context, destination.baseAddress, destination.count, source.baseAddress, source.count,
                    level ?? defaultLevel)
                guard ZSTD_isError(written) == 0 else { throw failure(written) }
                return written
            }
        }
        }
    }

    static func decompress(_ input: ByteBuffer, maxOutputBytes: Int) throws -> ByteBuffer {
        try decompressionContexts.withContext(codec: "zstd") { context in
            // A pooled context may hold the state of a failed frame; parameters stay.
            ZSTD_DCtx_reset(context, ZSTD_reset_session_only)
            return try decompress(input, maxOutputBytes: maxOutputBytes, context: context)
        }
    }

    private static func decompress(_ input: ByteBuffer, maxOutputBytes: Int, context: OpaquePointer) throws -> ByteBuffer {
        var initial = max(64 * 1024, input.readableBytes * 4)
        // A announced content size is only a hint, and only when plausible for the input size.
        let announced = input.withUnsafeReadableBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        if announced < UInt64(Int.max), Int(announced) <= input.readableBytes * 32 + 64 * 1024 {
            initial = Int(announced) + 1
        }
        var output = BoundedOutput(initialCapacity: initial, limit: maxOutputBytes, codec: .zstd)
        try input.withUnsafeReadableBytes { source in
            guard source.count > 0 else { throw failure(reason: "empty input") }
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            var frameComplete = false
            while !(frameComplete && inBuffer.pos == source.count) {
                try output.ensureWritable()
                let before = inBuffer.pos
                let step = output.write { destination -> (written: Int, result: (produced: Int, code: Int)) in
                    var outBuffer = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
                    let code = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    if ZSTD_isError(code) != 0 { return (0, (0, code)) }
                    return (outBuffer.pos, (outBuffer.pos, code))
                }
                if ZSTD_isError(step.code) != 0 { throw failure(step.code) }
                frameComplete = step.code == 0
                if inBuffer.pos == before && step.produced == 0 && !frameComplete {
                    if inBuffer.pos == source.count { throw failure(reason: "truncated frame") }
                    try output.ensureWritable(atLeast: output.allowedBytes * 2 + 1)
                }
            }
        }
        return try output.finish()
    }

    static func failure(_ code: Int) -> KafkaProtocolError {
        .compression(codec: "zstd", reason: String(cString: ZSTD_getErrorName(code)))
    }

    static func failure(reason: String) -> KafkaProtocolError {
        .compression(codec: "zstd", reason: reason)
    }
}
