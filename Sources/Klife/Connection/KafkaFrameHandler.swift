import NIOCore

/// The first Kafka handler of a connection's pipeline: turns the inbound byte stream into whole response
/// frames with a ``KafkaFrameAssembler`` and passes each on (the body, without its size prefix).
///
/// After a bad frame size it reports the error once and drops further input: the stream cannot be resynced,
/// and ``KafkaChannelHandler`` closes the connection on the error.
final class KafkaFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var assembler: KafkaFrameAssembler
    private var failed = false
    /// The large-frame buffers this connection shares with the broker's other connections; the handler
    /// counts as one of their connections while it is in a pipeline.
    private let spareFrameBuffers: SpareFrameBuffers

    init(maxFrameBytes: Int, spareFrameBuffers: SpareFrameBuffers = SpareFrameBuffers()) {
        self.spareFrameBuffers = spareFrameBuffers
        assembler = KafkaFrameAssembler(maxFrameBytes: maxFrameBytes, spares: spareFrameBuffers)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        spareFrameBuffers.attach()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        spareFrameBuffers.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var input = unwrapInboundIn(data)
        do {
            // One frame at a time: the assembler is not being mutated while a frame travels on (a handler
            // further on may feed this channel again from inside channelRead).
            while let frame = try assembler.nextFrame(from: &input, allocator: context.channel.allocator) {
                context.fireChannelRead(wrapInboundOut(frame))
            }
        } catch {
            failed = true
            context.fireErrorCaught(error)
        }
    }
}
