import NIOCore

extension KafkaConnection {
    /// Hands a request frame to the channel now and returns the future response frame.
    ///
    /// Unlike ``sendFrame(_:timeout:)`` this does not suspend before writing, so frames enqueued one after
    /// another by one task reach the socket in that order (the producer's sequences rely on it).
    func enqueueFrame(_ frame: ByteBuffer, timeout: Duration) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let peer = self.peer
        channel.writeAndFlush(KafkaOutboundRequest(frame: frame, deadline: .now() + TimeAmount(timeout), responsePromise: promise))
            .whenFailure { promise.fail(KafkaChannelHandler.classify($0, peer: peer)) }
        return trackRequest(frame, promise.futureResult)
    }

    /// Hands a frame that gets no response (Produce with acks=0) to the channel now.
    func enqueueFrameWithoutResponse(_ frame: ByteBuffer) -> EventLoopFuture<Void> {
        let peer = self.peer
        return channel.writeAndFlush(KafkaOutboundRequest(frame: frame, deadline: .distantFuture, responsePromise: nil))
            .flatMapErrorThrowing { throw KafkaChannelHandler.classify($0, peer: peer) }
    }
}
