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
    /// Where the channel's ``FrameReadAllocator`` reads next (plaintext connections), or nil.
    private let readTarget: FrameReadTarget?
    private var removed = false

    /// - Parameter readTarget: shared with the channel's ``FrameReadAllocator``: the handler points it at the
    ///   missing bytes of the large frame it is assembling, so the socket reads into them directly.
    init(maxFrameBytes: Int, spareFrameBuffers: SpareFrameBuffers = SpareFrameBuffers(), readTarget: FrameReadTarget? = nil) {
        self.spareFrameBuffers = spareFrameBuffers
        self.readTarget = readTarget
        assembler = KafkaFrameAssembler(maxFrameBytes: maxFrameBytes, spares: spareFrameBuffers)
    }

    /// Bytes of split frames that the socket read straight into their frame buffer (tests, measurements).
    var bytesReceivedInPlace: Int { assembler.receivedInPlace }

    /// Bytes of an unfinished frame held back (tests).
    var bufferedBytes: Int { assembler.bufferedBytes }

    func handlerAdded(context: ChannelHandlerContext) {
        spareFrameBuffers.attach()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        // The frame buffer goes with this handler: no read may land in it any more.
        readTarget?.region = nil
        spareFrameBuffers.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        // Not while a frame travels on: it may be the one the region points into.
        readTarget?.region = nil
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
            return
        }
        if let readTarget, !removed { readTarget.region = assembler.pendingRegion() }
    }
}
