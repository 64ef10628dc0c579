import NIOCore

/// Kafka's murmur2 hash (MurmurHash2, seed 0x9747b28c, little-endian 4-byte blocks), used by the
/// Java client's default partitioner and librdkafka's `murmur2`/`murmur2_random` partitioners to
/// map a key to a partition.
public enum Murmur2 {
    public static let seed: UInt32 = 0x9747_b28c

    /// The murmur2 hash of `bytes`, as Java's `Utils.murmur2` returns it.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = bytes.count
        var h = seed ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            var k = bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = blocks * 4
        switch length & 3 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h &*= m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h &*= m
        case 1:
            h ^= UInt32(bytes[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The murmur2 hash of the readable bytes of `buffer`.
    public static func hash(_ buffer: ByteBuffer) -> Int32 {
        buffer.withUnsafeReadableBytes { hash($0) }
    }

    /// The murmur2 hash of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The murmur2 hash of the UTF-8 bytes of `string`.
    public static func hash(_ string: String) -> Int32 {
        var string = string
        return string.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    /// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on Int32.min).
    public static func toPositive(_ value: Int32) -> Int32 { value & 0x7fff_ffff }

    /// The partition Kafka's default partitioner (and librdkafka's `murmur2_random` for non-null
    /// keys) picks: `toPositive(murmur2(key)) % partitionCount`.
    /// - Precondition: `partitionCount > 0`.
    public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "partitionCount must be positive")
        return toPositive(hash(key)) % partitionCount
    }
}
