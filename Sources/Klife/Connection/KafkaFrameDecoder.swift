import NIOCore

/// Splits the inbound byte stream into Kafka frames: an int32 size followed by that many bytes, as a
/// `ByteToMessageHandler` decoder (used by the scripted test brokers; client connections use
/// ``KafkaFrameHandler``, which avoids the growing cumulation buffer).
///
/// Each emitted `ByteBuffer` is the frame body without the size prefix (a slice of the cumulation
/// buffer, not a copy). A negative size or one above `maxFrameBytes` throws ``KafkaError/Code/frameTooLarge``
/// before anything is buffered for it, so a hostile or confused peer cannot make us allocate.
struct KafkaFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxFrameBytes: Int

    init(maxFrameBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return nil
        }
        let length = try KafkaFrameAssembler.checkedSize(size, maxFrameBytes: maxFrameBytes)
        guard buffer.readableBytes >= 4 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: length)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try decode(buffer: &buffer)
    }
}
