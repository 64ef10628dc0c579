import CKlifeCRC32C
import NIOCore

/// CRC-32C (Castagnoli), the checksum of record batches (magic 2).
///
/// Uses the CPU's CRC32C instructions (SSE4.2 on x86-64, the ARMv8 CRC extension on arm64) when the
/// running CPU has them, chosen at run time, and a table-driven implementation otherwise.
public enum CRC32C {
    /// Whether this machine computes CRC-32C with CPU instructions.
    public static var isHardwareAccelerated: Bool { klife_crc32c_hw_available() != 0 }

    /// CRC-32C of `bytes`, continuing from `crc` (0 starts a new checksum).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        klife_crc32c(crc, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// CRC-32C of the readable bytes of `buffer`, continuing from `crc` (0 starts a new checksum).
    @inlinable
    public static func checksum(_ buffer: ByteBuffer, continuing crc: UInt32 = 0) -> UInt32 {
        buffer.withUnsafeReadableBytes { checksum($0, continuing: crc) }
    }

    /// CRC-32C of `bytes`, continuing from `crc` (0 starts a new checksum).
    @inlinable
    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// The portable table-driven implementation, for tests and comparison.
    public static func softwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        klife_crc32c_sw(crc, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    }
}
