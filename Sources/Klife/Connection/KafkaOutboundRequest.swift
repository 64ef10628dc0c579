import NIOCore

/// What `KafkaConnection` writes into its channel: a complete request frame and how to answer it.
///
/// A class so that the channel handler can take the frame out (``takeFrame()``) and hold it uniquely:
/// the pipeline's `NIOAny` keeps a reference to the request while the handler runs, and a frame still
/// shared with it would be copied whole when the handler writes the correlation id (a ~1 MB
/// copy-on-write per Produce request, and twice the memory of every frame in flight). Ownership passes
/// with the write: only the channel handler, on the event loop, touches a request once it is written.
final class KafkaOutboundRequest: @unchecked Sendable {
    /// The whole frame: int32 size, request header, body. The correlation id at byte 8 is overwritten by
    /// the channel handler, so callers may encode any value there. Empty once taken.
    private(set) var frame: ByteBuffer
    /// When the request times out (closing the connection).
    private(set) var deadline: NIODeadline
    /// Completed with the response frame (correlation id first, size prefix stripped); nil when the
    /// request expects no response.
    let responsePromise: EventLoopPromise<ByteBuffer>?
    /// Where the frame's buffer goes once the socket has taken all of it (nil: it is just released).
    let recycler: FrameBufferRecycler?

    init(
        frame: consuming ByteBuffer, deadline: NIODeadline, responsePromise: EventLoopPromise<ByteBuffer>?,
        recycler: FrameBufferRecycler? = nil
    ) {
        self.frame = consume frame
        self.deadline = deadline
        self.responsePromise = responsePromise
        self.recycler = recycler
    }

    /// Hands the frame over (the request keeps an empty buffer), so that the caller holds the only
    /// reference the request had.
    func takeFrame() -> ByteBuffer {
        var taken = ByteBuffer()
        swap(&taken, &frame)
        return taken
    }

    /// Moves the deadline by the time the request was held back unsent (see ``KafkaChannelHandler/Throttle``):
    /// the timeout counts from the write.
    func postponeDeadline(by amount: TimeAmount) {
        if deadline != .distantFuture { deadline = deadline + amount }
    }

    /// Byte offset of the correlation id inside a request frame: size (4) + api key (2) + api version (2).
    static let correlationIDOffset = 8
    /// The smallest valid request frame: size + api key + api version + correlation id.
    static let minimumFrameBytes = 12
}
