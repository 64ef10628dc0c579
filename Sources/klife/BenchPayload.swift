import NIOCore

/// The record values every benchmark sends: the same bytes as the librdkafka harness
/// (`Benchmarks/rdkafka/klife_rdkafka_bench.c`), so both sides compress and transfer the same data.
///
/// One pool of `2^20 + recordSize` letters `a`…`p` from xorshift64 (seed 0x9E3779B97F4A7C15, shifts 13/7/17,
/// top 4 bits); record `i` is the `recordSize` bytes starting at `(i * 7919) mod 2^20`. Compressible about 2×,
/// different from record to record, and allocated once: generated straight into the `ByteBuffer` records are
/// sliced from (no second copy of the pool; the librdkafka harness holds one too).
struct BenchPayload: Sendable {
    static let poolSize = 1 << 20
    static let stride = 7919

    let recordSize: Int
    /// `poolSize + recordSize` bytes, so every record's slice is in bounds.
    let pool: ByteBuffer

    /// No pool, for workloads that send nothing (consume): building it costs ~1 MiB and a few ms of CPU.
    static let none = BenchPayload(recordSize: 0, pool: ByteBuffer())

    private init(recordSize: Int, pool: ByteBuffer) {
        self.recordSize = recordSize
        self.pool = pool
    }

    init(recordSize: Int) {
        precondition(recordSize >= 0, "record size must not be negative")
        self.recordSize = recordSize
        let count = Self.poolSize + recordSize
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var pool = ByteBufferAllocator().buffer(capacity: count)
        pool.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { buffer in
            for j in 0..<count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[j] = UInt8(ascii: "a") &+ UInt8(truncatingIfNeeded: state >> 60)
            }
            return count
        }
        self.pool = pool
    }

    /// Where record `index`'s value starts in ``pool``.
    func offset(ofRecord index: Int) -> Int {
        Int((UInt64(index) &* UInt64(Self.stride)) % UInt64(Self.poolSize))
    }

    /// Record `index`'s value (a slice of the pool; no copy).
    func value(ofRecord index: Int) -> ByteBuffer {
        pool.getSlice(at: offset(ofRecord: index), length: recordSize)!
    }
}
