import KafkaProtocol
import NIOCore

/// Helpers shared by the record batch, compression and robustness tests.
enum RecordBatchTestSupport {
    /// Bytes from hex text; whitespace and `|` separators are ignored.
    static func buffer(hex: String) -> ByteBuffer {
        let digits = hex.filter { $0.isHexDigit }
        precondition(digits.count % 2 == 0, "odd number of hex digits")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            bytes.append(UInt8(digits[index..<next], radix: 16)!)
            index = next
        }
        return ByteBuffer(bytes: bytes)
    }

    static func bytes(_ buffer: ByteBuffer?) -> [UInt8]? {
        buffer.map { Array($0.readableBytesView) }
    }

    static func string(_ buffer: ByteBuffer?) -> String? {
        buffer.map { String(buffer: $0) }
    }

    /// Decodes every batch and record of `records`.
    static func decodeAll(
        _ records: ByteBuffer, verifiesChecksums: Bool = true
    ) throws -> (batches: [RecordBatch], records: [[RecordBatch.Record]], truncatedTailBytes: Int) {
        var reader = RecordBatchReader(records: records, verifiesChecksums: verifiesChecksums)
        var batches: [RecordBatch] = []
        var all: [[RecordBatch.Record]] = []
        while let batch = try reader.next() {
            batches.append(batch)
            all.append(try batch.decodeRecords())
        }
        return (batches, all, reader.truncatedTailBytes)
    }
}

/// A small deterministic PRNG (BatchTestRandom) so that generated inputs are reproducible.
struct BatchTestRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Legacy (magic 0/1) message building for tests, with a bit-by-bit CRC-32 (zlib polynomial).
enum LegacyMessageBuilder {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// One log entry: offset, message_size, crc, magic, attributes, [timestamp], key, value.
    static func entry(
        offset: Int64, magic: Int8, attributes: Int8 = 0, timestamp: Int64 = 0, key: ByteBuffer?, value: ByteBuffer?
    ) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeKafkaInt8(magic)
        body.writeKafkaInt8(attributes)
        if magic == 1 { body.writeKafkaInt64(timestamp) }
        body.writeKafkaBytes(key, compact: false)
        body.writeKafkaBytes(value, compact: false)
        var out = ByteBuffer()
        out.writeKafkaInt64(offset)
        out.writeKafkaInt32(Int32(body.readableBytes + 4))
        out.writeKafkaUInt32(crc32(Array(body.readableBytesView)))
        out.writeImmutableBuffer(body)
        return out
    }
}
