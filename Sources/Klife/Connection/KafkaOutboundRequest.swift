import NIOCore

/// What `KafkaConnection` writes into its channel: a complete request frame and how to answer it.
struct KafkaOutboundRequest: Sendable {
    /// The whole frame: int32 size, request header, body. The correlation id at byte 8 is overwritten by
    /// the channel handler, so callers may encode any value there.
    var frame: ByteBuffer
    /// When the request times out (closing the connection).
    var deadline: NIODeadline
    /// Completed with the response frame (correlation id first, size prefix stripped); nil when the
    /// request expects no response.
    var responsePromise: EventLoopPromise<ByteBuffer>?

    /// Byte offset of the correlation id inside a request frame: size (4) + api key (2) + api version (2).
    static let correlationIDOffset = 8
    /// The smallest valid request frame: size + api key + api version + correlation id.
    static let minimumFrameBytes = 12
}
