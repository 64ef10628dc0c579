import NIOCore
import Synchronization

/// Keeps a few large request-frame buffers of one connection once the socket has taken their bytes, so
/// that the next large frame (a Produce request) is written into memory that is already mapped.
///
/// A fresh megabyte-sized buffer per request costs page faults on every first touch (glibc hands large
/// freed blocks back to the kernel); a recycled one does not. Only buffers of at least
/// ``minimumCapacity`` are kept, at most ``maximumKept`` of them, so small requests never pay for the
/// bookkeeping and an idle connection holds a bounded amount.
///
/// Reuse is an optimisation, never a correctness matter: a buffer still shared when it is handed out is
/// copied on write by `ByteBuffer` as usual.
final class FrameBufferRecycler: Sendable {
    /// Frames smaller than this are released as usual.
    let minimumCapacity: Int
    /// Buffers kept at most; more are released.
    let maximumKept: Int
    private let kept = Mutex<[ByteBuffer]>([])

    init(minimumCapacity: Int = 64 * 1024, maximumKept: Int = 2) {
        self.minimumCapacity = minimumCapacity
        self.maximumKept = maximumKept
    }

    /// Whether a written frame of this capacity is worth returning.
    func accepts(_ frame: ByteBuffer) -> Bool { frame.capacity >= minimumCapacity }

    /// An empty buffer with room for `capacity` bytes: a kept one large enough, else a new one.
    func buffer(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        // Bound straight from the lock's result: an extra binding would hold a second reference, and
        // `clear()` would then allocate new storage instead of reusing this one.
        guard capacity >= minimumCapacity, var buffer = kept.withLock({ buffers -> ByteBuffer? in
            // The smallest that fits, so that a large buffer stays for a large frame.
            var best: Int?
            for index in buffers.indices where buffers[index].capacity >= capacity {
                if best.map({ buffers[index].capacity < buffers[$0].capacity }) ?? true { best = index }
            }
            return best.map { buffers.remove(at: $0) }
        }) else {
            return allocator.buffer(capacity: capacity)
        }
        buffer.clear()
        return buffer
    }

    /// Takes back a frame the socket has fully written. When all slots are taken the smallest buffer
    /// (this one or a kept one) is released.
    func recycle(_ frame: ByteBuffer) {
        guard frame.capacity >= minimumCapacity else { return }
        let released: ByteBuffer? = kept.withLock { buffers in
            if buffers.count < maximumKept {
                buffers.append(frame)
                return nil
            }
            guard let smallest = buffers.indices.min(by: { buffers[$0].capacity < buffers[$1].capacity }),
                buffers[smallest].capacity < frame.capacity
            else { return frame }
            let dropped = buffers[smallest]
            buffers[smallest] = frame
            return dropped
        }
        _ = released  // freed here, outside the lock
    }

    /// Buffers kept now (tests, metrics).
    var keptCount: Int { kept.withLock { $0.count } }
}
