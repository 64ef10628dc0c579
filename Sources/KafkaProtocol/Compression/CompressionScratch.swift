import NIOCore
import Synchronization

/// Reused buffers that hold a compressed batch's records, uncompressed, until ``RecordBatchWriter``
/// compresses them into the request: a producer sending megabyte batches would otherwise allocate (and
/// fault in) a fresh megabyte-sized buffer per batch.
///
/// A few are kept process-wide (one per batch being compressed at the same time is enough); a buffer
/// larger than ``maximumCapacity`` is released rather than kept.
enum CompressionScratch {
    static let maximumKept = 4
    static let maximumCapacity = 16 << 20
    private static let kept = Mutex<[ByteBuffer]>([])

    /// An empty buffer, with the capacity of a past batch when one is kept.
    static func take() -> ByteBuffer {
        guard var buffer = kept.withLock({ $0.popLast() }) else { return ByteBuffer() }
        buffer.clear()
        return buffer
    }

    /// Takes a buffer back once its bytes are no longer needed.
    static func give(_ buffer: ByteBuffer) {
        guard buffer.capacity > 0, buffer.capacity <= maximumCapacity else { return }
        let released: ByteBuffer? = kept.withLock { buffers in
            guard buffers.count < maximumKept else { return buffer }
            buffers.append(buffer)
            return nil
        }
        _ = released  // freed here, outside the lock
    }
}
