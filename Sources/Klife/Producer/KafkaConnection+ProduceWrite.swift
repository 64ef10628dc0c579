import NIOCore

extension KafkaConnection {
    /// Hands a request frame to the channel now and returns the future response frame.
    ///
    /// Unlike ``sendFrame(_:timeout:)`` this does not suspend before writing, so frames enqueued one after
    /// another by one task reach the socket in that order (the producer's sequences rely on it).
    ///
    /// The frame is consumed: the channel handler writes the correlation id into it, and a reference still
    /// held here at that moment would make it copy the whole frame. A large frame's buffer goes back to
    /// ``frameBuffers`` once written.
    func enqueueFrame(_ frame: consuming ByteBuffer, timeout: Duration) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let response = trackRequest(frame, promise.futureResult)
        let request = KafkaOutboundRequest(
            frame: consume frame, deadline: .now() + TimeAmount(timeout), responsePromise: promise, recycler: frameBuffers)
        if channel.eventLoop.inEventLoop && channel.isActive {
            // In-loop on an open channel the write reaches KafkaChannelHandler at once, and from then on the
            // handler completes the response promise whatever happens to the write: no write promise needed.
            // The NIOAny is made here, where the request's type is known, because the generic
            // `Channel.writeAndFlush` makes it without: at run time, through failed casts to NIO's buffer types
            // (~4% of the user CPU of a lone produce request).
            channel.pipeline.syncOperations.writeAndFlush(NIOAny(consume request), promise: nil)
        } else {
            let peer = self.peer
            channel.writeAndFlush(consume request).whenFailure { promise.fail(KafkaChannelHandler.classify($0, peer: peer)) }
        }
        return response
    }

    /// Hands a frame that gets no response (Produce with acks=0) to the channel now.
    func enqueueFrameWithoutResponse(_ frame: consuming ByteBuffer) -> EventLoopFuture<Void> {
        let peer = self.peer
        return channel.writeAndFlush(KafkaOutboundRequest(frame: consume frame, deadline: .distantFuture, responsePromise: nil, recycler: frameBuffers))
            .flatMapErrorThrowing { throw KafkaChannelHandler.classify($0, peer: peer) }
    }
}
