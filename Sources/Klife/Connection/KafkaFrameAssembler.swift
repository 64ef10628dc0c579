import CKlifeCRC32C
import NIOCore

/// Splits the inbound byte stream into Kafka frames (an int32 size, then that many bytes) with at most one
/// copy per byte.
///
/// A frame that arrives whole inside one read is handed on as a slice of that read (no copy). A frame that
/// spans reads is copied, once, into a buffer allocated for its size when its size prefix arrives (NIO
/// rounds capacities to a power of two). On plaintext connections the socket reads the rest of a large frame
/// (``reuseThreshold`` or more) straight into that buffer (``FrameReadAllocator``, ``pendingRegion()``): such
/// reads arrive here as buffers whose bytes already are the frame's next bytes, recognised by their address,
/// and are not copied. A growing cumulation buffer instead reallocates as the frame
/// arrives, copying everything so far and touching fresh pages at each step. Read buffers are not retained,
/// so the channel can reuse them.
///
/// The buffers of large split frames are kept in `spares` and reused for later ones once nothing else holds
/// them (the records fetched from them are gone): a steady stream of large responses then writes into memory
/// that is already mapped instead of faulting in fresh pages for every response. The broker's connections
/// share one ``SpareFrameBuffers`` (one kept buffer per connection), so a connection reuses the buffer
/// another one's released response left; an assembler without `spares` keeps none.
///
/// A negative size or one above `maxFrameBytes` throws ``KafkaError/Code/frameTooLarge`` before anything
/// is allocated for it, so a hostile or confused peer cannot make us allocate.
struct KafkaFrameAssembler {
    let maxFrameBytes: Int
    /// The body of a frame that spans reads, being filled.
    private var partial: ByteBuffer?
    /// Bytes `partial` still lacks.
    private var missing = 0
    /// A size prefix split across reads: its bytes so far (big endian) and how many arrived.
    private var prefix: UInt32 = 0
    private var prefixBytes = 0
    /// Buffers of earlier large split frames (this connection's and its broker's other connections'),
    /// reused when no one else holds them any more.
    let spares: SpareFrameBuffers?
    /// Frames smaller than this are not worth keeping a buffer for.
    static let reuseThreshold = 64 * 1024
    /// Split frames of at least this size are copied with non-temporal stores (see ``nextFrame(from:allocator:)``).
    static let streamingThreshold = 1 << 20
    /// Whether `partial` is filled with non-temporal stores.
    private var streams = false
    /// Bytes of split frames that arrived in the frame's own memory, not copied (tests, measurements).
    private(set) var receivedInPlace = 0

    /// - Parameter spares: where large frames' buffers are kept for reuse; by default a set of its own
    ///   keeping one (a single connection's); nil keeps none.
    init(maxFrameBytes: Int, spares: SpareFrameBuffers? = SpareFrameBuffers(connections: 1)) {
        self.maxFrameBytes = maxFrameBytes
        self.spares = spares
    }

    /// Whether a large frame's buffer is kept for reuse now (tests).
    var holdsSpareBuffer: Bool { (spares?.keptCount ?? 0) > 0 }

    /// Bytes of an unfinished frame (prefix included) held back, waiting for more input.
    var bufferedBytes: Int { prefixBytes + (partial?.readableBytes ?? 0) }

    /// The next frame body (without its size prefix) completed by `input`, or nil once `input` is used up
    /// (its bytes are then held until the rest of their frame arrives). Call until it returns nil.
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/frameTooLarge`` for a negative or too large size;
    ///   the assembler must not be used afterwards.
    mutating func nextFrame(from input: inout ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer? {
        while input.readableBytes > 0 {
            if missing > 0 {
                let count = min(missing, input.readableBytes)
                if input.readerIndex == 0, Self.startsAt(input, partial!.writePointer) {
                    // The socket read straight into the frame (``FrameReadAllocator``): nothing to copy.
                    partial!.moveWriterIndex(forwardBy: count)
                    receivedInPlace += count
                } else if streams {
                    // A frame of megabytes (a fetch response) does not stay in cache while it fills, so
                    // ordinary stores would first read each destination line from memory; non-temporal
                    // stores skip that read (p1 10 KiB records: 4.26 -> 3.78 s CPU per 1M records).
                    input.withUnsafeReadableBytes { source in
                        partial!.withUnsafeMutableWritableBytes { destination in
                            precondition(destination.count >= count)
                            klife_copy_nontemporal(destination.baseAddress!, source.baseAddress!, count)
                        }
                    }
                    partial!.moveWriterIndex(forwardBy: count)
                } else {
                    input.withUnsafeReadableBytes { source in
                        _ = partial!.writeBytes(UnsafeRawBufferPointer(rebasing: source[..<count]))
                    }
                }
                input.moveReaderIndex(forwardBy: count)
                missing -= count
                if missing == 0 {
                    let frame = partial.take()!
                    // Kept only now that it is full: a second reference while filling would force a copy.
                    if frame.capacity >= Self.reuseThreshold { spares?.keep(frame) }
                    return frame
                }
                return nil
            }
            let size: Int
            if prefixBytes == 0, let whole = input.readInteger(endianness: .big, as: Int32.self) {
                size = try Self.checkedSize(whole, maxFrameBytes: maxFrameBytes)
            } else {
                // A size prefix split across reads (rare): gather it byte by byte.
                while prefixBytes < 4, let byte = input.readInteger(as: UInt8.self) {
                    prefix = prefix << 8 | UInt32(byte)
                    prefixBytes += 1
                }
                guard prefixBytes == 4 else { return nil }
                size = try Self.checkedSize(Int32(bitPattern: prefix), maxFrameBytes: maxFrameBytes)
                prefix = 0
                prefixBytes = 0
            }
            if input.readableBytes >= size {
                return input.readSlice(length: size)!
            }
            // Room to align only where NIO's power-of-two rounding leaves it: a frame just under a power of two
            // would otherwise take a buffer twice its size (and not fit the spares kept for its neighbours).
            let aligned = size >= Self.reuseThreshold && Self.roundedCapacity(size + 64) == Self.roundedCapacity(size)
            var body = buffer(capacity: aligned ? size + 64 : size, allocator: allocator)
            if aligned {
                // The socket may read the rest straight into the frame (FrameReadAllocator): start that at a
                // cache-line boundary, where the kernel's copy is fastest.
                let base = body.withUnsafeMutableWritableBytes { Int(bitPattern: $0.baseAddress) }
                let pad = (64 - (base + input.readableBytes) % 64) % 64
                body.moveWriterIndex(to: pad)
                body.moveReaderIndex(to: pad)
            }
            streams = size >= Self.streamingThreshold
            body.writeBuffer(&input)
            missing = size - body.readableBytes
            partial = body
        }
        return nil
    }

    /// The missing bytes of the large frame being filled, for the socket to read into directly
    /// (``FrameReadAllocator``); nil when no frame of at least ``reuseThreshold`` bytes is pending. Valid until
    /// the assembler is next used: the next call of ``nextFrame(from:allocator:)`` hands the frame on once
    /// these bytes are in.
    mutating func pendingRegion() -> UnsafeMutableRawBufferPointer? {
        guard missing > 0, partial!.readableBytes + missing >= Self.reuseThreshold else { return nil }
        let count = missing
        // The buffer is this assembler's alone while it fills, so this does not copy it.
        return partial!.withUnsafeMutableWritableBytes { UnsafeMutableRawBufferPointer(rebasing: $0.prefix(count)) }
    }

    /// The capacity NIO allocates for `size` bytes (the next power of two).
    static func roundedCapacity(_ size: Int) -> Int {
        size <= 1 ? size : 1 << (Int.bitWidth - (size - 1).leadingZeroBitCount)
    }

    /// Whether `input`'s readable bytes are the memory at `pointer`.
    private static func startsAt(_ input: ByteBuffer, _ pointer: UnsafeMutableRawPointer?) -> Bool {
        input.withUnsafeReadableBytes { $0.baseAddress == UnsafeRawPointer(pointer) }
    }

    /// An empty buffer for a split frame of `size` bytes: a kept one that no one else holds when it fits
    /// without wasting more than half of it (``SpareFrameBuffers/take(fitting:)``), else a new one.
    private func buffer(capacity size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard size >= Self.reuseThreshold, let spares, let reused = spares.take(fitting: size) else {
            return allocator.buffer(capacity: size)
        }
        return reused
    }

    /// A frame's size prefix as a length, or ``KafkaError/Code/frameTooLarge`` when it is negative or above
    /// `maxFrameBytes` (checked before anything is buffered for the frame).
    static func checkedSize(_ size: Int32, maxFrameBytes: Int) throws -> Int {
        guard size >= 0 else {
            throw KafkaError(.frameTooLarge, "response frame size \(size) is negative")
        }
        guard Int(size) <= maxFrameBytes else {
            throw KafkaError(
                .frameTooLarge,
                "response frame of \(size) bytes exceeds the maximum of \(maxFrameBytes) bytes (maxFrameBytes)"
            )
        }
        return Int(size)
    }
}

extension ByteBuffer {
    /// Where the next written byte goes (the buffer must be uniquely referenced, or this copies it).
    fileprivate var writePointer: UnsafeMutableRawPointer? {
        mutating get { withUnsafeMutableWritableBytes { $0.baseAddress } }
    }
}
