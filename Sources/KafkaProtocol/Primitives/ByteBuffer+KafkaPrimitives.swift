import NIOCore

// Reading and writing the primitive types of the Kafka protocol
// (https://kafka.apache.org/protocol#protocol_types). Every read checks the bytes left and throws a
// `KafkaProtocolError`; no length field is trusted to size an allocation before it is checked against
// the bytes actually present.

extension ByteBuffer {
    // MARK: Fixed-width integers

    @inlinable
    mutating func readKafkaFixed<T: FixedWidthInteger>(_: T.Type, field: StaticString) throws -> T {
        guard let value = readInteger(endianness: .big, as: T.self) else {
            throw KafkaProtocolError.truncated(field: "\(field)", needed: MemoryLayout<T>.size, available: readableBytes)
        }
        return value
    }

    @inlinable public mutating func readKafkaInt8(field: StaticString = "int8") throws -> Int8 { try readKafkaFixed(Int8.self, field: field) }
    @inlinable public mutating func readKafkaInt16(field: StaticString = "int16") throws -> Int16 { try readKafkaFixed(Int16.self, field: field) }
    @inlinable public mutating func readKafkaInt32(field: StaticString = "int32") throws -> Int32 { try readKafkaFixed(Int32.self, field: field) }
    @inlinable public mutating func readKafkaInt64(field: StaticString = "int64") throws -> Int64 { try readKafkaFixed(Int64.self, field: field) }
    @inlinable public mutating func readKafkaUInt16(field: StaticString = "uint16") throws -> UInt16 { try readKafkaFixed(UInt16.self, field: field) }
    @inlinable public mutating func readKafkaUInt32(field: StaticString = "uint32") throws -> UInt32 { try readKafkaFixed(UInt32.self, field: field) }

    @inlinable public mutating func readKafkaBool(field: StaticString = "bool") throws -> Bool {
        try readKafkaFixed(UInt8.self, field: field) != 0
    }

    @inlinable public mutating func readKafkaFloat64(field: StaticString = "float64") throws -> Double {
        Double(bitPattern: try readKafkaFixed(UInt64.self, field: field))
    }

    @inlinable public mutating func writeKafkaInt8(_ v: Int8) { writeInteger(v) }
    @inlinable public mutating func writeKafkaInt16(_ v: Int16) { writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeKafkaInt32(_ v: Int32) { writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeKafkaInt64(_ v: Int64) { writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeKafkaUInt16(_ v: UInt16) { writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeKafkaUInt32(_ v: UInt32) { writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeKafkaBool(_ v: Bool) { writeInteger(v ? 1 : 0 as UInt8) }
    @inlinable public mutating func writeKafkaFloat64(_ v: Double) { writeInteger(v.bitPattern, endianness: .big) }

    // MARK: Varints

    /// Unsigned LEB128 varint of at most 5 bytes (Kafka's UNSIGNED_VARINT).
    @inlinable public mutating func readKafkaUnsignedVarint(field: StaticString = "unsigned varint") throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = readInteger(as: UInt8.self) else {
                throw KafkaProtocolError.truncated(field: "\(field)", needed: 1, available: 0)
            }
            if shift == 28 && byte & 0xF0 != 0 { throw KafkaProtocolError.malformedVarint(field: "\(field)") }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Unsigned LEB128 varint of at most 10 bytes.
    @inlinable public mutating func readKafkaUnsignedVarlong(field: StaticString = "unsigned varlong") throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = readInteger(as: UInt8.self) else {
                throw KafkaProtocolError.truncated(field: "\(field)", needed: 1, available: 0)
            }
            if shift == 63 && byte & 0xFE != 0 { throw KafkaProtocolError.malformedVarint(field: "\(field)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Zigzag-encoded signed 32-bit varint (Kafka's VARINT).
    @inlinable public mutating func readKafkaVarint(field: StaticString = "varint") throws -> Int32 {
        let raw = try readKafkaUnsignedVarint(field: field)
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Zigzag-encoded signed 64-bit varint (Kafka's VARLONG).
    @inlinable public mutating func readKafkaVarlong(field: StaticString = "varlong") throws -> Int64 {
        let raw = try readKafkaUnsignedVarlong(field: field)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    @inlinable public mutating func writeKafkaUnsignedVarint(_ value: UInt32) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(truncatingIfNeeded: v))
    }

    @inlinable public mutating func writeKafkaUnsignedVarlong(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(truncatingIfNeeded: v))
    }

    @inlinable public mutating func writeKafkaVarint(_ value: Int32) {
        writeKafkaUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    @inlinable public mutating func writeKafkaVarlong(_ value: Int64) {
        writeKafkaUnsignedVarlong(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Encoded size of a zigzag varint, for size pre-computation.
    @inlinable public static func kafkaVarintSize(_ value: Int64) -> Int {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    // MARK: Lengths

    /// Reads a length or count prefix. Returns nil for the null marker (-1, or 0 when compact).
    /// Throws when the value is otherwise negative or exceeds what is left times `minimumElementSize`.
    @inlinable
    public mutating func readKafkaLength(
        compact: Bool, wide: Bool, minimumElementSize: Int = 1, field: StaticString
    ) throws -> Int? {
        let length: Int
        if compact {
            let raw = try readKafkaUnsignedVarint(field: field)
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else if wide {
            let raw = try readKafkaInt32(field: field)
            if raw == -1 { return nil }
            length = Int(raw)
        } else {
            let raw = try readKafkaInt16(field: field)
            if raw == -1 { return nil }
            length = Int(raw)
        }
        if length < 0 || length.multipliedReportingOverflow(by: minimumElementSize).partialValue > readableBytes {
            throw KafkaProtocolError.invalidLength(field: "\(field)", length: Int64(length))
        }
        return length
    }

    @inlinable
    public mutating func writeKafkaLength(_ length: Int?, compact: Bool, wide: Bool) {
        if compact {
            writeKafkaUnsignedVarint(length.map { UInt32($0 + 1) } ?? 0)
        } else if wide {
            writeKafkaInt32(length.map { Int32($0) } ?? -1)
        } else {
            writeKafkaInt16(length.map { Int16($0) } ?? -1)
        }
    }

    // MARK: Strings

    /// STRING / NULLABLE_STRING (int16 length) or COMPACT_(NULLABLE_)STRING (unsigned varint length + 1).
    @inlinable
    public mutating func readKafkaNullableString(compact: Bool, field: StaticString = "string") throws -> String? {
        guard let length = try readKafkaLength(compact: compact, wide: false, field: field) else { return nil }
        guard let string = readString(length: length) else {
            throw KafkaProtocolError.truncated(field: "\(field)", needed: length, available: readableBytes)
        }
        return string
    }

    @inlinable
    public mutating func readKafkaString(compact: Bool, field: StaticString = "string") throws -> String {
        guard let s = try readKafkaNullableString(compact: compact, field: field) else {
            throw KafkaProtocolError.unexpectedNull(field: "\(field)", version: -1)
        }
        return s
    }

    @inlinable
    public mutating func writeKafkaString(_ value: String?, compact: Bool) {
        guard let value else {
            writeKafkaLength(nil, compact: compact, wide: false)
            return
        }
        let count = value.utf8.count
        writeKafkaLength(count, compact: compact, wide: false)
        writeString(value)
    }

    // MARK: Bytes

    /// BYTES / NULLABLE_BYTES (int32 length) or COMPACT_(NULLABLE_)BYTES, as a zero-copy slice.
    @inlinable
    public mutating func readKafkaNullableBytes(compact: Bool, field: StaticString = "bytes") throws -> ByteBuffer? {
        guard let length = try readKafkaLength(compact: compact, wide: true, field: field) else { return nil }
        guard let slice = readSlice(length: length) else {
            throw KafkaProtocolError.truncated(field: "\(field)", needed: length, available: readableBytes)
        }
        return slice
    }

    @inlinable
    public mutating func writeKafkaBytes(_ value: ByteBuffer?, compact: Bool) {
        guard let value else {
            writeKafkaLength(nil, compact: compact, wide: true)
            return
        }
        writeKafkaLength(value.readableBytes, compact: compact, wide: true)
        writeImmutableBuffer(value)
    }

    // MARK: UUID

    @inlinable
    public mutating func readKafkaUUID(field: StaticString = "uuid") throws -> KafkaUUID {
        let high = try readKafkaFixed(UInt64.self, field: field)
        let low = try readKafkaFixed(UInt64.self, field: field)
        return KafkaUUID(high: high, low: low)
    }

    @inlinable
    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        writeInteger(value.high, endianness: .big)
        writeInteger(value.low, endianness: .big)
    }

    // MARK: Tagged fields

    /// Reads a tagged-field section. `body` gets each tag and a slice holding exactly its bytes and
    /// returns whether it knew the tag; unknown tags are skipped by their length, never misparsed.
    @inlinable
    public mutating func readKafkaTaggedFields(
        field: StaticString = "tagged fields",
        _ body: (_ tag: UInt32, _ data: inout ByteBuffer) throws -> Void = { _, _ in }
    ) throws {
        let count = try readKafkaUnsignedVarint(field: field)
        guard Int(count) <= readableBytes else {
            throw KafkaProtocolError.invalidLength(field: "\(field)", length: Int64(count))
        }
        for _ in 0..<count {
            let tag = try readKafkaUnsignedVarint(field: field)
            let size = Int(try readKafkaUnsignedVarint(field: field))
            guard var slice = readSlice(length: size) else {
                throw KafkaProtocolError.truncated(field: "\(field)", needed: size, available: readableBytes)
            }
            try body(tag, &slice)
        }
    }

    /// Writes an empty tagged-field section.
    @inlinable public mutating func writeKafkaEmptyTaggedFields() { writeInteger(0 as UInt8) }
}
