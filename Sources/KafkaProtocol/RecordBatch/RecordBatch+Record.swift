import NIOCore

extension RecordBatch {
    /// One record with its absolute offset and timestamp.
    public struct Record: Sendable, Hashable {
        public var offset: Int64
        /// Milliseconds since the epoch: create time, or the broker's log-append time when the batch
        /// has that timestamp type.
        public var timestamp: Int64
        /// nil is a null key (distinct from an empty one).
        public var key: ByteBuffer?
        /// nil is a null value (a tombstone on compacted topics).
        public var value: ByteBuffer?
        public var headers: [RecordHeader]
        /// The record's attributes byte (unused by Kafka so far).
        public var attributes: Int8

        public init(
            offset: Int64, timestamp: Int64, key: ByteBuffer?, value: ByteBuffer?,
            headers: [RecordHeader] = [], attributes: Int8 = 0
        ) {
            self.offset = offset
            self.timestamp = timestamp
            self.key = key
            self.value = value
            self.headers = headers
            self.attributes = attributes
        }
    }

    /// Decodes the records of a batch one at a time.
    public struct RecordIterator: Sendable {
        var encoded: ByteBuffer
        let legacyRecords: [Record]?
        let baseOffset: Int64
        let baseTimestamp: Int64
        let logAppendTime: Int64?
        let expected: Int
        var decoded = 0

        init(batch: RecordBatch) {
            baseOffset = batch.baseOffset
            baseTimestamp = batch.baseTimestamp
            logAppendTime = batch.attributes.timestampType == .logAppendTime ? batch.maxTimestamp : nil
            switch batch.storage {
            case .encoded(let buffer):
                encoded = buffer
                legacyRecords = nil
                expected = Int(batch.recordCount)
            case .decoded(let records):
                encoded = ByteBuffer()
                legacyRecords = records
                expected = records.count
            }
        }

        /// The next record, or nil after the last.
        /// - Throws: ``KafkaProtocolError`` when a record is malformed, the records end before
        ///   recordsCount records, or bytes are left after them.
        public mutating func next() throws -> Record? {
            guard decoded < expected else {
                if encoded.readableBytes != 0 {
                    throw KafkaProtocolError.invalidValue(
                        field: "records", reason: "\(encoded.readableBytes) bytes left after \(expected) records")
                }
                return nil
            }
            defer { decoded += 1 }
            if let legacyRecords { return legacyRecords[decoded] }
            return try Self.decodeRecord(
                from: &encoded, baseOffset: baseOffset, baseTimestamp: baseTimestamp, logAppendTime: logAppendTime)
        }

        static func decodeRecord(
            from buffer: inout ByteBuffer, baseOffset: Int64, baseTimestamp: Int64, logAppendTime: Int64?
        ) throws -> Record {
            let length = Int(try buffer.readKafkaVarint(field: "record length"))
            guard length >= 0 else { throw KafkaProtocolError.invalidLength(field: "record length", length: Int64(length)) }
            guard var body = buffer.readSlice(length: length) else {
                throw KafkaProtocolError.truncated(field: "record", needed: length, available: buffer.readableBytes)
            }
            let attributes = try body.readKafkaInt8(field: "record attributes")
            let timestampDelta = try body.readKafkaVarlong(field: "record timestampDelta")
            let offsetDelta = try body.readKafkaVarint(field: "record offsetDelta")
            let key = try body.readRecordBytes(field: "record key")
            let value = try body.readRecordBytes(field: "record value")
            let headerCount = Int(try body.readKafkaVarint(field: "record headersCount"))
            // Each header takes at least 2 bytes, which bounds the count before anything is reserved.
            guard headerCount >= 0, headerCount <= body.readableBytes / 2 else {
                throw KafkaProtocolError.invalidLength(field: "record headersCount", length: Int64(headerCount))
            }
            var headers: [RecordHeader] = []
            if headerCount > 0 {
                headers.reserveCapacity(headerCount)
                for _ in 0..<headerCount {
                    let keyLength = Int(try body.readKafkaVarint(field: "header key length"))
                    guard keyLength >= 0, let headerKey = body.readString(length: keyLength) else {
                        throw KafkaProtocolError.invalidLength(field: "header key length", length: Int64(keyLength))
                    }
                    let headerValue = try body.readRecordBytes(field: "header value")
                    headers.append(RecordHeader(key: headerKey, value: headerValue))
                }
            }
            guard body.readableBytes == 0 else {
                throw KafkaProtocolError.invalidValue(
                    field: "record", reason: "\(body.readableBytes) bytes left after the headers")
            }
            return Record(
                offset: baseOffset &+ Int64(offsetDelta),
                timestamp: logAppendTime ?? (baseTimestamp &+ timestampDelta),
                key: key, value: value, headers: headers, attributes: attributes)
        }
    }
}

extension ByteBuffer {
    /// Varint-length-prefixed bytes of a record (-1 is null), as a slice.
    @inlinable
    mutating func readRecordBytes(field: StaticString) throws -> ByteBuffer? {
        let length = try readKafkaVarint(field: field)
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaProtocolError.invalidLength(field: "\(field)", length: Int64(length)) }
        guard let slice = readSlice(length: Int(length)) else {
            throw KafkaProtocolError.truncated(field: "\(field)", needed: Int(length), available: readableBytes)
        }
        return slice
    }

    /// Writes varint-length-prefixed bytes of a record (-1 for null).
    @inlinable
    mutating func writeRecordBytes(_ bytes: ByteBuffer?) {
        guard let bytes else {
            writeKafkaVarint(-1)
            return
        }
        writeKafkaVarint(Int32(truncatingIfNeeded: bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}
