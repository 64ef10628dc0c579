@_spi(CustomByteBufferAllocator) import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The channel's receive-buffer allocator (`ChannelOptions.recvAllocator`) on plaintext connections: while a
/// large response frame is arriving, the socket reads straight into that frame's buffer instead of into a
/// read buffer whose bytes ``KafkaFrameAssembler`` then copies (that copy was 18.5% of the consumer's CPU for
/// 10 KiB records, docs/benchmarks/consumer.md). Everything else is read into ordinary buffers sized as
/// NIO's `AdaptiveRecvByteBufferAllocator` sizes them.
///
/// How NIO is made to read into our memory (swift-nio 2.x, `NIOPooledRecvBufferAllocator` and
/// `BaseStreamSocketChannel.readFromSocket`): each read takes a buffer from the channel's pool; when
/// ``nextBufferSize()`` is nil and ``record(actualReadBytes:)`` said "may grow", the pool calls
/// ``buffer(allocator:)`` for every read. What it returns here while a frame is pending is a fresh
/// `ByteBuffer` that does not own its memory: it aliases exactly the frame's missing bytes (a storage object
/// of its own, so it is uniquely referenced and NIO writes into it in place; its capacity is the missing
/// byte count, so a read never runs past the frame's end; its deallocation is a no-op). The frame buffer
/// itself stays with the assembler, so a read that NIO drops (EAGAIN, EOF) loses nothing.
///
/// The pool keeps the first `pooledReads` buffers that `buffer(allocator:)` returns and reuses them for
/// later reads as long as they are uniquely referenced: an alias kept there would later be written while
/// its frame is in a consumer's hands. So the first `pooledReads` hand-outs are always ordinary buffers
/// (``nextBufferSize()`` returns nil until then, so they happen on the connection's first reads), and
/// `pooledReads` must equal the channel's `maxMessagesPerRead` (the pool's capacity):
/// ``KafkaConnection`` sets both from ``FrameReadTarget/pooledReads``. (FrameReadAllocatorTests checks this
/// against the NIO version we pin: a frame received while the pool filled must stay intact.)
///
/// The kernel's copy into a destination off a cache-line boundary costs much more (p1 10 KiB records: 0.46 s
/// of system time per 1M records unaligned, 0.25 s aligned), so the assembler places a large frame's body so
/// that the first direct read starts on a boundary, and a read that would start off one is first given only
/// the bytes up to the next boundary.
///
/// Plaintext connections only: with TLS the socket carries ciphertext, which NIOSSL decrypts into buffers of
/// its own.
struct FrameReadAllocator: RecvByteBufferAllocator {
    /// Shared with the connection's ``KafkaFrameHandler``, which says where the pending frame's bytes go.
    let target: FrameReadTarget
    /// Sizes the ordinary read buffers.
    private var adaptive = AdaptiveRecvByteBufferAllocator()

    init(target: FrameReadTarget) {
        self.target = target
    }

    func nextBufferSize() -> Int? {
        // Asked first for every read: buffer(allocator:) sets it again when it hands out the frame's memory.
        target.lastReadWasAlias = false
        // nil: the pool calls buffer(allocator:) for this read instead of reusing one of its own.
        if target.handOuts < FrameReadTarget.pooledReads { return nil }
        if target.region != nil { return nil }
        return adaptive.nextBufferSize()
    }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        if target.handOuts < FrameReadTarget.pooledReads {
            target.handOuts += 1
            return allocator.buffer(capacity: adaptive.nextBufferSize() ?? 2048)
        }
        guard let region = target.region else {
            return allocator.buffer(capacity: adaptive.nextBufferSize() ?? 2048)
        }
        target.aliasesHandedOut += 1
        target.lastReadWasAlias = true
        // A read that would start off a cache-line boundary first fills only the bytes up to it.
        let misalignment = Int(bitPattern: region.baseAddress) & 63
        let bytes = misalignment == 0 || region.count <= 64
            ? region : UnsafeMutableRawBufferPointer(rebasing: region.prefix(64 - misalignment))
        return ByteBuffer(takingOwnershipOf: bytes, allocator: Self.aliasAllocator, readerIndex: 0, writerIndex: 0)
    }

    mutating func record(actualReadBytes: Int) -> Bool {
        // Reads into a frame's memory say nothing about the size small reads need.
        if !target.lastReadWasAlias { _ = adaptive.record(actualReadBytes: actualReadBytes) }
        // Always "may grow": with a nil nextBufferSize the pool would otherwise reuse its stored buffer
        // instead of asking buffer(allocator:).
        return true
    }

    /// Owns nothing: its buffers alias a frame buffer that the assembler owns. Allocation and reallocation
    /// only happen if such a buffer is grown or copied on write, which NIO's read path and
    /// ``KafkaFrameHandler`` never do; they then get memory of their own (leaked when freed, as `deallocate`
    /// cannot tell it from aliased memory) rather than writing past the frame.
    static let aliasAllocator = ByteBufferAllocator(
        allocate: { size in malloc(size) },
        reallocate: { pointer, oldSize, newSize in
            guard let fresh = malloc(newSize) else { return nil }
            if let pointer { memcpy(fresh, pointer, min(oldSize, newSize)) }
            return fresh
        },
        deallocate: { _ in },
        copy: { destination, source, count in memcpy(destination, source, count) }
    )
}

/// Where a connection's socket reads go next, shared by its ``FrameReadAllocator`` and ``KafkaFrameHandler``.
/// Confined to the channel's event loop (both are called only there), hence `@unchecked Sendable`.
final class FrameReadTarget: @unchecked Sendable {
    /// The channel's `maxMessagesPerRead`, which is also the capacity of its receive-buffer pool.
    static let pooledReads = 4

    /// The pending large frame's missing bytes (inside the assembler's frame buffer), or nil: reads go into
    /// ordinary buffers. Set by the frame handler after each read, cleared before the frame is handed on.
    var region: UnsafeMutableRawBufferPointer?
    /// Buffers handed out by ``FrameReadAllocator/buffer(allocator:)`` before aliasing was allowed.
    var handOuts = 0
    /// Whether the read under way goes into `region`.
    var lastReadWasAlias = false
    /// Reads offered straight into a frame's memory (tests, measurements).
    var aliasesHandedOut = 0

    init() {}
}
