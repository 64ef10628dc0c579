import NIOCore

/// The header in front of every request (RequestHeader v0–v2).
public struct KafkaRequestHeader: Sendable, Equatable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationID: Int32
    /// Sent from header v1 on; always a non-compact nullable string, even in v2.
    public var clientID: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationID: Int32, clientID: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
        self.clientID = clientID
    }

    public func encode(into buffer: inout ByteBuffer, headerVersion: Int16) {
        buffer.writeKafkaInt16(apiKey)
        buffer.writeKafkaInt16(apiVersion)
        buffer.writeKafkaInt32(correlationID)
        if headerVersion >= 1 { buffer.writeKafkaString(clientID, compact: false) }
        if headerVersion >= 2 { buffer.writeKafkaEmptyTaggedFields() }
    }

    public init(from buffer: inout ByteBuffer, headerVersion: Int16) throws {
        apiKey = try buffer.readKafkaInt16(field: "RequestHeader.apiKey")
        apiVersion = try buffer.readKafkaInt16(field: "RequestHeader.apiVersion")
        correlationID = try buffer.readKafkaInt32(field: "RequestHeader.correlationID")
        clientID = headerVersion >= 1 ? try buffer.readKafkaNullableString(compact: false, field: "RequestHeader.clientID") : nil
        if headerVersion >= 2 { try buffer.readKafkaTaggedFields() }
    }
}

/// The header in front of every response (ResponseHeader v0–v1).
public struct KafkaResponseHeader: Sendable, Equatable {
    public var correlationID: Int32

    public init(correlationID: Int32) { self.correlationID = correlationID }

    public init(from buffer: inout ByteBuffer, headerVersion: Int16) throws {
        correlationID = try buffer.readKafkaInt32(field: "ResponseHeader.correlationID")
        if headerVersion >= 1 { try buffer.readKafkaTaggedFields() }
    }

    public func encode(into buffer: inout ByteBuffer, headerVersion: Int16) {
        buffer.writeKafkaInt32(correlationID)
        if headerVersion >= 1 { buffer.writeKafkaEmptyTaggedFields() }
    }
}

extension KafkaRequestMessage {
    /// Writes a complete request frame: int32 size, header, body. The size is patched in afterwards, so
    /// the body is encoded straight into `buffer` with no intermediate copy.
    @inlinable
    public func encodeFrame(
        into buffer: inout ByteBuffer, version: Int16, correlationID: Int32, clientID: String?
    ) throws {
        let sizeIndex = buffer.writerIndex
        buffer.writeKafkaInt32(0)
        KafkaRequestHeader(apiKey: Self.apiKey, apiVersion: version, correlationID: correlationID, clientID: clientID)
            .encode(into: &buffer, headerVersion: Self.requestHeaderVersion(for: version))
        try encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex, endianness: .big)
    }
}
