import NIOCore
import Synchronization

/// The spare buffers of large response frames that one broker's connections keep for reuse, shared by those
/// connections: at most one buffer per open connection, and any of them takes whichever kept buffer is free.
///
/// A kept buffer is one whose frame was handed on: it is free again once nothing else references it (the
/// records fetched from it are gone), and the next large frame of any of the broker's connections is written
/// into it instead of into fresh memory. Per connection, the connection a fetch goes on is not the one whose
/// earlier response its caller has just released (``FetchExecutor`` puts a request on whichever of the
/// broker's general connection and fetch lane has nothing in flight), so a spare per connection sat idle on
/// one while the other filled a fresh buffer: three ~6 MB frames resident for two in use (docs/benchmarks/consumer.md,
/// Session 7).
///
/// Reuse happens only when the kept buffer is uniquely referenced (`modifyIfUniquelyOwned`), so a buffer whose
/// records someone still holds is never written to. Thread-safe (the broker's connections may run on
/// different event loops); buffers are released outside the lock.
final class SpareFrameBuffers: Sendable {
    private struct State {
        /// Buffers kept, free or still referenced by a frame handed on.
        var buffers: [ByteBuffer] = []
        /// Buffers kept at most: one per attached connection.
        var limit: Int
    }

    private let state: Mutex<State>

    /// - Parameter connections: connections counted as attached from the start (a standalone assembler: 1).
    init(connections: Int = 0) {
        state = Mutex(State(limit: max(connections, 0)))
    }

    /// One more connection shares these buffers: one more may be kept.
    func attach() {
        state.withLock { $0.limit += 1 }
    }

    /// A connection that shared these buffers is gone: buffers beyond the new limit are no longer kept (a
    /// free one is released here, one still referenced when its holder lets go).
    func detach() {
        let released: [ByteBuffer] = state.withLock { state in
            state.limit = max(state.limit - 1, 0)
            var extra: [ByteBuffer] = []
            // Free ones go first (they are memory nobody uses), then the oldest.
            var index = state.buffers.startIndex
            while state.buffers.count > state.limit, index < state.buffers.endIndex {
                if Self.isReferenced(&state.buffers[index]) {
                    index += 1
                } else {
                    extra.append(state.buffers.remove(at: index))
                }
            }
            while state.buffers.count > state.limit { extra.append(state.buffers.removeFirst()) }
            return extra
        }
        _ = released  // freed here, outside the lock
    }

    /// An empty buffer for a frame of `size` bytes taken out of the kept ones: a free one that fits without
    /// wasting more than half of it, or nil (the caller allocates; its frame may be kept when handed on with
    /// ``keep(_:)``). When every slot is taken and no free buffer fits, one kept buffer gives up its slot to
    /// the new frame's: a free one that does not fit, else one still held (its memory then goes as soon as its
    /// holder lets go, as with a single connection's spare, instead of staying kept until the new frame is
    /// complete: glibc can reuse it for the allocations of the meantime).
    func take(fitting size: Int) -> ByteBuffer? {
        var released: ByteBuffer?
        let taken: ByteBuffer? = state.withLock { state in
            var misfit: Int?
            var held: Int?
            for index in state.buffers.indices {
                let capacity = state.buffers[index].capacity
                let fits = capacity >= size && capacity / 2 <= size
                // Cleared in place, while only this array references it: clear() keeps the storage then.
                let cleared: Void? = state.buffers[index].modifyIfUniquelyOwned { buffer in
                    if fits { buffer.clear() }
                }
                let free = cleared != nil
                if free && fits { return state.buffers.remove(at: index) }
                if free && misfit == nil { misfit = index }
                if !free && held == nil { held = index }
            }
            if state.buffers.count >= state.limit, let slot = misfit ?? held {
                released = state.buffers.remove(at: slot)
            }
            return nil
        }
        _ = released  // freed here, outside the lock
        return taken
    }

    /// Keeps the buffer of a large frame that is being handed on (a reference, not a copy), when a slot is
    /// open; when all are taken it replaces a buffer still referenced elsewhere (the newest frame is the one
    /// likelier to be released soon), never a free one.
    func keep(_ frame: ByteBuffer) {
        let released: ByteBuffer? = state.withLock { state in
            if state.buffers.count < state.limit {
                state.buffers.append(frame)
                return nil
            }
            for index in state.buffers.indices where Self.isReferenced(&state.buffers[index]) {
                let dropped = state.buffers[index]
                state.buffers[index] = frame
                return dropped
            }
            return nil
        }
        _ = released  // freed here, outside the lock
    }

    /// Buffers kept now, free or not (tests, metrics).
    var keptCount: Int { state.withLock { $0.buffers.count } }

    /// Buffers kept at most now (tests).
    var limit: Int { state.withLock { $0.limit } }

    /// Whether anything besides the caller's (in-place) access references the buffer's storage.
    private static func isReferenced(_ buffer: inout ByteBuffer) -> Bool {
        let unique: Void? = buffer.modifyIfUniquelyOwned { _ in }
        return unique == nil
    }
}
