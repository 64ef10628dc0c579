import CZlib
import NIOCore

/// Decoding of the legacy message formats (magic 0 and 1, Kafka before 0.11): a message set is a
/// sequence of `offset int64, message_size int32, message`, the message being
/// `crc uint32, magic int8, attributes int8, [timestamp int64 (magic 1)], key bytes, value bytes`,
/// with a CRC-32 (zlib) over magic…value. A compressed message ("wrapper") carries a compressed
/// inner message set in its value.
enum LegacyMessage {
    /// message_size lower bound: crc, magic, attributes, [timestamp], key length, value length.
    static func minimumSize(magic: Int8) -> Int32 { magic == 0 ? 14 : 22 }

    struct Message {
        var offset: Int64
        var crc: UInt32
        var magic: Int8
        var attributes: Int8
        var timestamp: Int64
        var key: ByteBuffer?
        var value: ByteBuffer?

        var codecBits: Int8 { attributes & 0x07 }
        var timestampType: KafkaTimestampType { magic > 0 && attributes & 0x08 != 0 ? .logAppendTime : .createTime }
    }

    /// Decodes one complete log entry (offset, size, message) of exactly `entry.readableBytes` bytes.
    static func readMessage(_ entry: inout ByteBuffer, verifiesChecksums: Bool) throws -> Message {
        let offset = try entry.readKafkaInt64(field: "message offset")
        let size = Int(try entry.readKafkaInt32(field: "message_size"))
        guard size >= 0, var body = entry.readSlice(length: size) else {
            throw KafkaProtocolError.invalidLength(field: "message_size", length: Int64(size))
        }
        let crc = try body.readKafkaUInt32(field: "message crc")
        if verifiesChecksums {
            let computed = body.withUnsafeReadableBytes { bytes -> UInt32 in
                UInt32(truncatingIfNeeded: crc32(0, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count)))
            }
            guard computed == crc else { throw KafkaProtocolError.crcMismatch(stored: crc, computed: computed) }
        }
        let magic = try body.readKafkaInt8(field: "message magic")
        guard magic == 0 || magic == 1 else { throw KafkaProtocolError.unsupportedMagic(magic) }
        let attributes = try body.readKafkaInt8(field: "message attributes")
        let timestamp = magic == 1 ? try body.readKafkaInt64(field: "message timestamp") : -1
        let key = try body.readKafkaNullableBytes(compact: false, field: "message key")
        let value = try body.readKafkaNullableBytes(compact: false, field: "message value")
        guard body.readableBytes == 0 else {
            throw KafkaProtocolError.invalidValue(field: "message", reason: "\(body.readableBytes) bytes after the value")
        }
        return Message(
            offset: offset, crc: crc, magic: magic, attributes: attributes, timestamp: timestamp, key: key, value: value)
    }

    /// Decodes one outer log entry into a batch (one record, or the inner records of a wrapper).
    static func decodeEntry(_ entry: ByteBuffer, verifiesChecksums: Bool, maxDecompressedBytes: Int) throws -> RecordBatch {
        var input = entry
        let outer = try readMessage(&input, verifiesChecksums: verifiesChecksums)
        var records: [RecordBatch.Record] = []
        let codec: KafkaCompressionCodec
        switch outer.codecBits {
        case 0: codec = .none
        case 1: codec = .gzip
        case 2: codec = .snappy
        case 3: codec = .lz4
        default:
            throw KafkaProtocolError.compression(
                codec: "codec \(outer.codecBits)", reason: "not a legacy (magic \(outer.magic)) codec")
        }
        if codec == .none {
            records.append(
                RecordBatch.Record(offset: outer.offset, timestamp: outer.timestamp, key: outer.key, value: outer.value))
        } else {
            guard let compressed = outer.value else {
                throw KafkaProtocolError.invalidValue(field: "wrapper message", reason: "compressed message has a null value")
            }
            var inner = try KafkaCompression.decompress(
                compressed, codec: codec, maxOutputBytes: maxDecompressedBytes,
                legacyLZ4HeaderChecksum: outer.magic == 0)
            var messages: [Message] = []
            while inner.readableBytes > 0 {
                guard inner.readableBytes >= 12,
                    let size = inner.getInteger(at: inner.readerIndex + 8, endianness: .big, as: Int32.self),
                    size >= minimumSize(magic: 0), Int(size) <= inner.readableBytes - 12
                else {
                    throw KafkaProtocolError.invalidValue(field: "inner message set", reason: "truncated or malformed inner message")
                }
                var innerEntry = inner.readSlice(length: 12 + Int(size))!
                let message = try readMessage(&innerEntry, verifiesChecksums: verifiesChecksums)
                guard message.codecBits == 0 else {
                    throw KafkaProtocolError.invalidValue(field: "inner message", reason: "nested compression")
                }
                messages.append(message)
            }
            guard let lastInner = messages.last else {
                throw KafkaProtocolError.invalidValue(field: "wrapper message", reason: "empty inner message set")
            }
            // Magic 1 inner offsets are relative; the wrapper holds the offset of the last one.
            let offsetBase = outer.magic > 0 ? outer.offset &- lastInner.offset : 0
            records.reserveCapacity(messages.count)
            for message in messages {
                let timestamp: Int64
                if outer.magic == 0 {
                    timestamp = -1
                } else if outer.timestampType == .logAppendTime {
                    timestamp = outer.timestamp
                } else {
                    timestamp = message.timestamp
                }
                records.append(
                    RecordBatch.Record(
                        offset: offsetBase &+ message.offset, timestamp: timestamp, key: message.key, value: message.value))
            }
        }
        let baseOffset = records[0].offset
        let lastOffset = records[records.count - 1].offset
        let maxTimestamp = records.reduce(Int64.min) { max($0, $1.timestamp) }
        return RecordBatch(
            baseOffset: baseOffset, sizeInBytes: entry.readableBytes, partitionLeaderEpoch: -1, magic: outer.magic,
            crc: outer.crc,
            attributes: RecordBatchAttributes(compression: codec, timestampType: outer.timestampType),
            lastOffsetDelta: Int32(truncatingIfNeeded: lastOffset &- baseOffset),
            baseTimestamp: records[0].timestamp, maxTimestamp: maxTimestamp,
            producerId: -1, producerEpoch: -1, baseSequence: -1, recordCount: Int32(truncatingIfNeeded: records.count),
            storage: .decoded(records))
    }
}
