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
    ///
    /// `next()` is inlinable so that a consumer in another module (Klife's fetch decoder) can move the key
    /// and value slices into its own record type instead of copying them (a retain and release each).
    public struct RecordIterator: Sendable {
        @usableFromInline var encoded: ByteBuffer
        @usableFromInline let legacyRecords: [Record]?
        @usableFromInline let baseOffset: Int64
        @usableFromInline let baseTimestamp: Int64
        @usableFromInline let logAppendTime: Int64?
        @usableFromInline let expected: Int
        @usableFromInline var decoded = 0
        /// Set for a batch whose records are still compressed: `next()` throws instead of misreading them.
        @usableFromInline let awaitsDecompression: Bool

        @usableFromInline
        init(batch: RecordBatch) {
            baseOffset = batch.baseOffset
            baseTimestamp = batch.baseTimestamp
            logAppendTime = batch.attributes.timestampType == .logAppendTime ? batch.maxTimestamp : nil
            switch batch.storage {
            case .encoded(let buffer):
                encoded = buffer
                legacyRecords = nil
                expected = Int(batch.recordCount)
                awaitsDecompression = false
            case .decoded(let records):
                encoded = ByteBuffer()
                legacyRecords = records
                expected = records.count
                awaitsDecompression = false
            case .compressed(let buffer):
                encoded = buffer
                legacyRecords = nil
                expected = Int(batch.recordCount)
                awaitsDecompression = true
            }
        }

        /// The next record, or nil after the last.
        /// - Throws: ``KafkaProtocolError`` when a record is malformed, the records end before
        ///   recordsCount records, or bytes are left after them.
        @inlinable
        public mutating func next() throws -> Record? {
            if awaitsDecompression { throw Self.stillCompressed }
            guard decoded < expected else {
                if encoded.readableBytes != 0 {
                    throw KafkaProtocolError.invalidValue(
                        field: "records", reason: "\(encoded.readableBytes) bytes left after \(expected) records")
                }
                return nil
            }
            defer { decoded += 1 }
            if let legacyRecords { return legacyRecords[decoded] }
            let (record, size) = try Self.decodeRecord(
                in: encoded, baseOffset: baseOffset, baseTimestamp: baseTimestamp, logAppendTime: logAppendTime)
            encoded.moveReaderIndex(forwardBy: size)
            return record
        }

        /// Decodes the next record and hands its parts to `body`, which owns them; nil after the last record.
        ///
        /// For consumers with a record type of their own: they can move the key, value and headers into it,
        /// where going through ``Record`` costs a copy (a retain and a release) of each.
        /// - Throws: what ``next()`` throws, and what `body` throws.
        @inlinable
        public mutating func next<Result>(
            _ body: (
                _ offset: Int64, _ timestamp: Int64, _ key: consuming ByteBuffer?, _ value: consuming ByteBuffer?,
                _ headers: consuming [RecordHeader]
            ) throws -> Result
        ) throws -> Result? {
            if awaitsDecompression { throw Self.stillCompressed }
            guard decoded < expected else {
                if encoded.readableBytes != 0 {
                    throw KafkaProtocolError.invalidValue(
                        field: "records", reason: "\(encoded.readableBytes) bytes left after \(expected) records")
                }
                return nil
            }
            decoded += 1
            if let legacyRecords {
                let record = legacyRecords[decoded - 1]
                return try body(record.offset, record.timestamp, record.key, record.value, record.headers)
            }
            let layout = try encoded.withUnsafeReadableBytes { try Self.parseLayout($0) }
            let readerIndex = encoded.readerIndex
            let key = layout.keyLength < 0 ? nil : encoded.getSlice(at: readerIndex + layout.keyOffset, length: layout.keyLength)
            let value =
                layout.valueLength < 0 ? nil : encoded.getSlice(at: readerIndex + layout.valueOffset, length: layout.valueLength)
            let headers = layout.headerCount == 0 ? [] : try Self.decodeHeaders(in: encoded, layout: layout)
            encoded.moveReaderIndex(forwardBy: layout.size)
            return try body(
                baseOffset &+ Int64(layout.offsetDelta), logAppendTime ?? (baseTimestamp &+ layout.timestampDelta),
                key, value, headers)
        }

        @usableFromInline
        static var stillCompressed: KafkaProtocolError {
            .invalidValue(field: "records", reason: "the batch is still compressed: call decompressed() first")
        }

        /// Where the parts of one encoded record are, relative to the reader index.
        @usableFromInline
        struct Layout {
            @usableFromInline var size = 0
            @usableFromInline var attributes: Int8 = 0
            @usableFromInline var timestampDelta: Int64 = 0
            @usableFromInline var offsetDelta: Int32 = 0
            @usableFromInline var keyOffset = 0
            @usableFromInline var keyLength = -1
            @usableFromInline var valueOffset = 0
            @usableFromInline var valueLength = -1
            @usableFromInline var headersOffset = 0
            @usableFromInline var headerCount = 0

            @usableFromInline init() {}
        }

        /// Decodes the record at the reader index of `buffer` in one bounds-checked pass; key, value
        /// and header values are slices of `buffer`. Returns the record and its encoded size.
        @inlinable
        static func decodeRecord(
            in buffer: ByteBuffer, baseOffset: Int64, baseTimestamp: Int64, logAppendTime: Int64?
        ) throws -> (Record, Int) {
            let layout = try buffer.withUnsafeReadableBytes { try parseLayout($0) }
            let readerIndex = buffer.readerIndex
            let key = layout.keyLength < 0 ? nil : buffer.getSlice(at: readerIndex + layout.keyOffset, length: layout.keyLength)
            let value =
                layout.valueLength < 0 ? nil : buffer.getSlice(at: readerIndex + layout.valueOffset, length: layout.valueLength)
            let headers = layout.headerCount == 0 ? [] : try decodeHeaders(in: buffer, layout: layout)
            let record = Record(
                offset: baseOffset &+ Int64(layout.offsetDelta),
                timestamp: logAppendTime ?? (baseTimestamp &+ layout.timestampDelta),
                key: key, value: value, headers: headers, attributes: layout.attributes)
            return (record, layout.size)
        }

        @usableFromInline
        static func parseLayout(_ raw: UnsafeRawBufferPointer) throws -> Layout {
            guard let base = raw.baseAddress else {
                throw KafkaProtocolError.truncated(field: "record length", needed: 1, available: 0)
            }
            var reader = RecordWireFormat.Reader(base: base, position: 0, end: raw.count)
            let length = Int(try reader.varint("record length"))
            guard length >= 0 else {
                throw KafkaProtocolError.invalidLength(field: "record length", length: Int64(length))
            }
            guard length <= raw.count - reader.position else {
                throw KafkaProtocolError.truncated(field: "record", needed: length, available: raw.count - reader.position)
            }
            reader.end = reader.position + length
            var layout = Layout()
            layout.size = reader.end
            layout.attributes = Int8(bitPattern: try reader.byte("record attributes"))
            layout.timestampDelta = try reader.varlong("record timestampDelta")
            layout.offsetDelta = try reader.varint("record offsetDelta")
            (layout.keyOffset, layout.keyLength) = try reader.bytesField("record key")
            (layout.valueOffset, layout.valueLength) = try reader.bytesField("record value")
            let headerCount = Int(try reader.varint("record headersCount"))
            // Each header takes at least 2 bytes, which bounds the count before anything is reserved.
            guard headerCount >= 0, headerCount <= (reader.end - reader.position) / 2 else {
                throw KafkaProtocolError.invalidLength(field: "record headersCount", length: Int64(headerCount))
            }
            layout.headerCount = headerCount
            layout.headersOffset = reader.position
            if headerCount == 0 && reader.position != reader.end {
                throw KafkaProtocolError.invalidValue(
                    field: "record", reason: "\(reader.end - reader.position) bytes left after the headers")
            }
            return layout
        }

        @usableFromInline
        static func decodeHeaders(in buffer: ByteBuffer, layout: Layout) throws -> [RecordHeader] {
            let readerIndex = buffer.readerIndex
            return try buffer.withUnsafeReadableBytes { raw -> [RecordHeader] in
                let base = raw.baseAddress!
                var reader = RecordWireFormat.Reader(base: base, position: layout.headersOffset, end: layout.size)
                var headers: [RecordHeader] = []
                headers.reserveCapacity(layout.headerCount)
                for _ in 0..<layout.headerCount {
                    let keyLength = Int(try reader.varint("header key length"))
                    guard keyLength >= 0, keyLength <= reader.end - reader.position else {
                        throw KafkaProtocolError.invalidLength(field: "header key length", length: Int64(keyLength))
                    }
                    let headerKey = String(
                        decoding: UnsafeRawBufferPointer(start: base + reader.position, count: keyLength), as: UTF8.self)
                    reader.position += keyLength
                    let valueField = try reader.bytesField("header value")
                    let headerValue =
                        valueField.length < 0
                        ? nil : buffer.getSlice(at: readerIndex + valueField.offset, length: valueField.length)
                    headers.append(RecordHeader(key: headerKey, value: headerValue))
                }
                guard reader.position == reader.end else {
                    throw KafkaProtocolError.invalidValue(
                        field: "record", reason: "\(reader.end - reader.position) bytes left after the headers")
                }
                return headers
            }
        }
    }
}
