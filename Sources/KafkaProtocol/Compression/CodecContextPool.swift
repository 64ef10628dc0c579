import Synchronization

/// A C codec context (ZSTD_CCtx, ZSTD_DCtx, LZ4F_dctx) owned by a pool while not in use.
struct CodecContext: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Reuses C codec contexts across batches: creating a zstd context allocates and initialises
/// hundreds of KiB, more than compressing a small batch costs. A context is used by one caller at
/// a time (taken out of the pool under the lock, used outside it).
final class CodecContextPool: Sendable {
    private let free = Mutex<[CodecContext]>([])
    private let create: @Sendable () -> OpaquePointer?
    private let destroy: @Sendable (OpaquePointer) -> Void
    private let maximumPooled: Int

    init(
        maximumPooled: Int = 8, create: @escaping @Sendable () -> OpaquePointer?,
        destroy: @escaping @Sendable (OpaquePointer) -> Void
    ) {
        self.maximumPooled = maximumPooled
        self.create = create
        self.destroy = destroy
    }

    /// Runs `body` with a context; `body` must leave it reusable (or reset it first thing).
    func withContext<R>(codec: String, _ body: (OpaquePointer) throws -> R) throws -> R {
        let pooled = free.withLock { $0.popLast() }
        guard let context = pooled ?? create().map(CodecContext.init) else {
            throw KafkaProtocolError.compression(codec: codec, reason: "cannot create a codec context")
        }
        defer {
            let kept = free.withLock { contexts -> Bool in
                guard contexts.count < maximumPooled else { return false }
                contexts.append(context)
                return true
            }
            if !kept { destroy(context.pointer) }
        }
        return try body(context.pointer)
    }
}
