import NIOCore

/// Raw-pointer encoding and decoding of single records (the per-record hot paths): one capacity
/// check per record when writing and one bounds-checked pass over the bytes when reading, instead
/// of a `ByteBuffer` call per field.
enum RecordWireFormat {
    @inline(__always)
    static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

    @inline(__always)
    static func unzigzag(_ raw: UInt64) -> Int64 { Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))) }

    /// Writes an unsigned LEB128 varint at `p`, returns the position after it.
    @inline(__always)
    static func putVarint(_ p: UnsafeMutableRawPointer, _ value: UInt64) -> UnsafeMutableRawPointer {
        var v = value
        var p = p
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
            p += 1
            v >>= 7
        }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
        return p + 1
    }

    /// Writes varint-length-prefixed bytes (-1 for nil).
    @inline(__always)
    static func putBytes(_ p: UnsafeMutableRawPointer, _ bytes: ByteBuffer?) -> UnsafeMutableRawPointer {
        guard let bytes else { return putVarint(p, 1) }  // zigzag(-1)
        let count = bytes.readableBytes
        let after = putVarint(p, zigzag(Int64(count)))
        if count > 0 {
            bytes.withUnsafeReadableBytes { source in
                after.copyMemory(from: source.baseAddress!, byteCount: count)
            }
        }
        return after + count
    }

    /// Writes varint-length-prefixed bytes given by address (-1 for nil).
    @inline(__always)
    static func putBytes(_ p: UnsafeMutableRawPointer, _ bytes: UnsafeRawBufferPointer?) -> UnsafeMutableRawPointer {
        guard let bytes else { return putVarint(p, 1) }  // zigzag(-1)
        let after = putVarint(p, zigzag(Int64(bytes.count)))
        if bytes.count > 0 { after.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        return after + bytes.count
    }

    /// Writes a record's fields before its key: length, attributes (0), timestamp and offset deltas.
    @inline(__always)
    static func putRecordPrefix(
        _ p: UnsafeMutableRawPointer, bodySize: Int, timestampDelta: Int64, offsetDelta: Int32
    ) -> UnsafeMutableRawPointer {
        var p = putVarint(p, zigzag(Int64(bodySize)))
        p.storeBytes(of: 0, as: UInt8.self)  // record attributes
        p += 1
        p = putVarint(p, zigzag(timestampDelta))
        return putVarint(p, zigzag(Int64(offsetDelta)))
    }

    /// Writes a header key: varint length and UTF-8 bytes.
    @inline(__always)
    static func putString(_ p: UnsafeMutableRawPointer, _ string: String, utf8Count: Int) -> UnsafeMutableRawPointer {
        let after = putVarint(p, zigzag(Int64(utf8Count)))
        let copied: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 -> Void in
            if utf8Count > 0 { after.copyMemory(from: utf8.baseAddress!, byteCount: utf8Count) }
        }
        if copied == nil {
            var q = after
            for byte in string.utf8 {
                q.storeBytes(of: byte, as: UInt8.self)
                q += 1
            }
        }
        return after + utf8Count
    }

    /// A bounds-checked cursor over raw bytes.
    struct Reader {
        let base: UnsafeRawPointer
        var position: Int
        var end: Int

        @inline(__always)
        mutating func byte(_ field: StaticString) throws -> UInt8 {
            guard position < end else {
                throw KafkaProtocolError.truncated(field: "\(field)", needed: 1, available: 0)
            }
            let b = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            return b
        }

        /// Zigzag varint of at most 5 bytes (Kafka's VARINT).
        @inline(__always)
        mutating func varint(_ field: StaticString) throws -> Int32 {
            var b = try byte(field)
            if b < 0x80 { return Int32(truncatingIfNeeded: unzigzag(UInt64(b))) }
            var raw = UInt32(b & 0x7F)
            var shift: UInt32 = 7
            while true {
                b = try byte(field)
                if shift == 28 && b & 0xF0 != 0 { throw KafkaProtocolError.malformedVarint(field: "\(field)") }
                raw |= UInt32(b & 0x7F) << shift
                if b < 0x80 { break }
                shift += 7
            }
            return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }

        /// Zigzag varint of at most 10 bytes (Kafka's VARLONG).
        @inline(__always)
        mutating func varlong(_ field: StaticString) throws -> Int64 {
            var b = try byte(field)
            if b < 0x80 { return unzigzag(UInt64(b)) }
            var raw = UInt64(b & 0x7F)
            var shift: UInt64 = 7
            while true {
                b = try byte(field)
                if shift == 63 && b & 0xFE != 0 { throw KafkaProtocolError.malformedVarint(field: "\(field)") }
                raw |= UInt64(b & 0x7F) << shift
                if b < 0x80 { break }
                shift += 7
            }
            return unzigzag(raw)
        }

        /// A varint length (-1 for null) and the offset of the bytes that follow, skipped.
        @inline(__always)
        mutating func bytesField(_ field: StaticString) throws -> (offset: Int, length: Int) {
            let length = Int(try varint(field))
            if length == -1 { return (position, -1) }
            guard length >= 0 else { throw KafkaProtocolError.invalidLength(field: "\(field)", length: Int64(length)) }
            guard length <= end - position else {
                throw KafkaProtocolError.truncated(field: "\(field)", needed: length, available: end - position)
            }
            defer { position += length }
            return (position, length)
        }
    }
}
