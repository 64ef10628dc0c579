import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
    /// The socket's receive low-water mark (`SO_RCVLOWAT`) as this handler last set it; 1 is the kernel's default.
    private(set) var receiveLowWater = 1

    /// The most a pending large frame asks the kernel to have queued before it wakes the reader.
    ///
    /// Without it, a client faster than the broker woke for every ~150 KB that arrived (3,500 wakeups, each
    /// with two reads, per 1 GB of 10 KB records; librdkafka ~900). 256 KiB took 4-7% off the CPU of 10 KB
    /// records, 4 MiB (two wakeups for a 6 MB response) another ~10% on one partition, with the same
    /// throughput (docs/benchmarks/consumer.md, "Session 8, p8" and "Session 9"). Linux caps the mark at half
    /// the most the socket may buffer (`tcp_rmem`), growing the buffer to fit it.
    static let receiveLowWaterCap = 4 << 20

    static let receiveLowWaterOption = ChannelOptions.Types.SocketOption(
        level: .socket, name: NIOBSDSocket.Option(rawValue: SO_RCVLOWAT))

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
        if receiveLowWater > 1 { setReceiveLowWater(context, missing: 0) }
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
        if let readTarget, !removed {
            let region = assembler.pendingRegion()
            readTarget.region = region
            setReceiveLowWater(context, missing: region?.count ?? 0)
        }
    }

    /// While a large frame is pending (its memory is where the socket reads, see ``FrameReadAllocator``), the
    /// kernel wakes the reader only once min(missing bytes, ``receiveLowWaterCap``) are queued; back to 1 when
    /// no frame is pending. Never above the frame's missing bytes: the bytes after them (the next response)
    /// may only come after a request this frame's reader has yet to send. (The kernel also wakes the reader
    /// at end of stream and when its receive window runs out.)
    private func setReceiveLowWater(_ context: ChannelHandlerContext, missing: Int) {
        let wanted = missing > 0 ? min(missing, Self.receiveLowWaterCap) : 1
        // Raised only at a frame's start; lowered whenever the frame needs fewer bytes than the mark: about
        // three calls per large frame.
        guard wanted < receiveLowWater || (receiveLowWater == 1 && wanted > 1) else { return }
        receiveLowWater = wanted
        // Best effort: if it fails, the reader is merely woken more often.
        try? context.channel.syncOptions?.setOption(Self.receiveLowWaterOption, value: SocketOptionValue(wanted))
    }
}
