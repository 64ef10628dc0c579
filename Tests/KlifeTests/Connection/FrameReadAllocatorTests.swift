import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Klife

/// Reads into large frames' own buffers over a real socket (an `EmbeddedChannel` has no receive allocator):
/// a scripted server writes exactly the bytes and splits each test needs, the client pipeline is a
/// connection's (``FrameReadAllocator`` + ``KafkaFrameHandler``) with a collector behind it.
@Suite struct FrameReadAllocatorTests {
    /// Frames handed on by the client's frame handler, and whether its channel closed.
    final class Collected: Sendable {
        let frames = Mutex<[ByteBuffer]>([])
        let inactive = Mutex(false)
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let collected: Collected
        init(_ collected: Collected) { self.collected = collected }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            collected.frames.withLock { $0.append(frame) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            collected.inactive.withLock { $0 = true }
        }
    }

    /// A connected pair: the server's end (written by the test) and the client's (reading as a connection does).
    struct Pair {
        let server: any Channel
        let client: any Channel
        let listener: any Channel
        let target: FrameReadTarget
        let collected: Collected

        /// Writes `bytes` from the server and flushes.
        func send(_ bytes: ByteBuffer) async throws {
            try await server.writeAndFlush(bytes)
        }

        func receivedInPlace() async throws -> Int {
            try await client.eventLoop.submit { [client] in
                try client.pipeline.syncOperations.handler(type: KafkaFrameHandler.self).bytesReceivedInPlace
            }.get()
        }

        /// Body bytes of an unfinished frame the client holds, or of its size prefix (0 once its handler is gone).
        func buffered() async throws -> Int {
            try await client.eventLoop.submit { [client] in
                (try? client.pipeline.syncOperations.handler(type: KafkaFrameHandler.self).bufferedBytes) ?? 0
            }.get()
        }

        func handOuts() async throws -> (pooled: Int, aliases: Int, region: Bool) {
            try await client.eventLoop.submit { [target] in
                (target.handOuts, target.aliasesHandedOut, target.region != nil)
            }.get()
        }

        var frameCount: Int { collected.frames.withLock { $0.count } }

        func close() async {
            try? await client.close()
            try? await server.close()
            try? await listener.close()
        }
    }

    /// Waits until `condition` holds, failing after a deadline.
    func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    func connect() async throws -> Pair {
        let group = MultiThreadedEventLoopGroup.singleton
        let accepted = group.next().makePromise(of: (any Channel).self)
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.succeed(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let target = FrameReadTarget()
        let collected = Collected()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try KafkaConnection.readIntoFrames(channel, target)
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(
                        KafkaFrameHandler(maxFrameBytes: 64 << 20, spareFrameBuffers: SpareFrameBuffers(), readTarget: target)
                    )
                    try pipeline.addHandler(Collector(collected))
                }
            }
            .connect(host: "127.0.0.1", port: listener.localAddress!.port!).get()
        let server = try await accepted.futureResult.get()
        return Pair(server: server, client: client, listener: listener, target: target, collected: collected)
    }

    /// Sends `count` small frames one by one, each once the previous has arrived: at least that many reads.
    func warmUp(_ pair: Pair, count: Int = FrameReadTarget.pooledReads) async throws {
        for index in 0..<count {
            try await pair.send(Self.frame(size: 10, seed: UInt8(index)))
            try await waitUntil("warm-up frame \(index) arrived") { pair.frameCount == index + 1 }
        }
        #expect(try await pair.handOuts().pooled == FrameReadTarget.pooledReads)
    }

    /// Sends small frames one by one (each a read of its own, into NIO's pooled read buffers), then checks that
    /// the frames received earlier are still intact: had NIO's pool kept a buffer that aliases a frame, these
    /// reads would overwrite that frame while it is in the collector's hands.
    func checkLaterReadsLeave(_ pair: Pair, sizes: [Int: (size: Int, seed: UInt8)]) async throws {
        let before = pair.frameCount
        for index in 0..<3 * FrameReadTarget.pooledReads {
            try await pair.send(Self.frame(size: 2000, seed: UInt8(100 + index)))
            try await waitUntil("small frame \(index) arrived") { pair.frameCount == before + index + 1 }
        }
        let frames = pair.collected.frames.withLock { $0 }
        for (index, expected) in sizes {
            #expect(Self.isIntact(frames[index], size: expected.size, seed: expected.seed), "frame \(index) was overwritten")
        }
    }

    /// A frame (size prefix and body) whose body bytes are `seed &+ i % 251`.
    static func frame(size: Int, seed: UInt8) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(size))
        buffer.writeBytes((0..<size).lazy.map { seed &+ UInt8($0 % 251) })
        return buffer
    }

    static func isIntact(_ frame: ByteBuffer, size: Int, seed: UInt8) -> Bool {
        guard frame.readableBytes == size else { return false }
        return frame.withUnsafeReadableBytes { bytes in
            var index = 0
            for byte in bytes {
                if byte != seed &+ UInt8(index % 251) { return false }
                index += 1
            }
            return true
        }
    }

    @Test func largeFrameIsReadIntoItsBufferAndTheNextFrameFollowsIntact() async throws {
        let pair = try await connect()
        defer { Task { await pair.close() } }
        try await warmUp(pair)

        // The size prefix and the first 1000 bytes alone: they arrive in an ordinary read and are copied.
        let size = 3 << 20
        var large = Self.frame(size: size, seed: 7)
        let head = large.readSlice(length: 4 + 1000)!
        try await pair.send(head)
        try await waitUntil("the frame's head is buffered") { try await pair.buffered() == 1000 }
        #expect(try await pair.handOuts().region)

        // The rest, and a small frame right behind it in the same write: the socket reads run up to the large
        // frame's end (the aliased buffer is exactly its missing bytes), the small one comes in an ordinary read.
        var rest = large
        rest.writeImmutableBuffer(Self.frame(size: 300, seed: 9))
        try await pair.send(rest)
        try await waitUntil("both frames arrived") { pair.frameCount == FrameReadTarget.pooledReads + 2 }

        let frames = pair.collected.frames.withLock { $0 }
        #expect(Self.isIntact(frames[FrameReadTarget.pooledReads], size: size, seed: 7))
        #expect(Self.isIntact(frames[FrameReadTarget.pooledReads + 1], size: 300, seed: 9))
        // Every byte of the second write went straight into the frame's buffer, none was copied (the head may
        // have come in more than one read, its later part in place too).
        let inPlace = try await pair.receivedInPlace()
        #expect(inPlace >= size - 1000 && inPlace < size)
        let state = try await pair.handOuts()
        #expect(state.aliases >= 1)
        #expect(!state.region)
        #expect(try await pair.buffered() == 0)
        try await checkLaterReadsLeave(pair, sizes: [FrameReadTarget.pooledReads: (size, 7)])
    }

    @Test func sizePrefixSplitAcrossReads() async throws {
        let pair = try await connect()
        defer { Task { await pair.close() } }
        try await warmUp(pair)

        let size = 200_000
        var large = Self.frame(size: size, seed: 3)
        try await pair.send(large.readSlice(length: 2)!)
        try await waitUntil("half the prefix is buffered") { try await pair.buffered() == 2 }
        try await pair.send(large.readSlice(length: 2 + 500)!)
        try await waitUntil("the prefix and 500 bytes are buffered") { try await pair.buffered() == 500 }
        try await pair.send(large)
        try await waitUntil("the frame arrived") { pair.frameCount == FrameReadTarget.pooledReads + 1 }

        let frame = try #require(pair.collected.frames.withLock { $0.last })
        #expect(Self.isIntact(frame, size: size, seed: 3))
        let inPlace = try await pair.receivedInPlace()
        #expect(inPlace >= size - 500 && inPlace < size)
    }

    @Test func smallSplitFramesAreCopiedAsBefore() async throws {
        let pair = try await connect()
        defer { Task { await pair.close() } }
        try await warmUp(pair)

        // Below the reuse threshold a frame keeps the copying path.
        let size = KafkaFrameAssembler.reuseThreshold - 1
        var small = Self.frame(size: size, seed: 5)
        try await pair.send(small.readSlice(length: 4 + 100)!)
        try await waitUntil("the frame's head is buffered") { try await pair.buffered() == 100 }
        #expect(try await !pair.handOuts().region)
        try await pair.send(small)
        try await waitUntil("the frame arrived") { pair.frameCount == FrameReadTarget.pooledReads + 1 }

        #expect(Self.isIntact(try #require(pair.collected.frames.withLock { $0.last }), size: size, seed: 5))
        #expect(try await pair.receivedInPlace() == 0)
        #expect(try await pair.handOuts().aliases == 0)
    }

    @Test func largeFramesBeforeTheReceivePoolIsFullAreCopied() async throws {
        // The first reads' buffers stay in NIO's pool for reuse: none of them may be a frame's memory.
        let pair = try await connect()
        defer { Task { await pair.close() } }

        let size = 1 << 20
        var large = Self.frame(size: size, seed: 1)
        try await pair.send(large.readSlice(length: 4 + 10)!)
        try await waitUntil("the frame's head is buffered") { try await pair.buffered() == 10 }
        try await pair.send(large)
        try await waitUntil("the frame arrived") { pair.frameCount == 1 }

        #expect(Self.isIntact(try #require(pair.collected.frames.withLock { $0.first }), size: size, seed: 1))
        let state = try await pair.handOuts()
        #expect(state.pooled == FrameReadTarget.pooledReads)
        // Whatever arrived after the pool filled may have gone in place; what arrived before was copied.
        #expect(try await pair.receivedInPlace() < size - 10)
        try await checkLaterReadsLeave(pair, sizes: [0: (size, 1)])
    }

    @Test func backToBackLargeFramesReuseAndStayIntact() async throws {
        let pair = try await connect()
        defer { Task { await pair.close() } }
        try await warmUp(pair)

        var stream = ByteBuffer()
        let sizes = [1 << 20, 700_000, 2 << 20, 100, 1 << 20]
        for (index, size) in sizes.enumerated() { stream.writeImmutableBuffer(Self.frame(size: size, seed: UInt8(index))) }
        try await pair.send(stream)
        try await waitUntil("every frame arrived") { pair.frameCount == FrameReadTarget.pooledReads + sizes.count }

        let frames = pair.collected.frames.withLock { Array($0.dropFirst(FrameReadTarget.pooledReads)) }
        for (index, size) in sizes.enumerated() {
            #expect(Self.isIntact(frames[index], size: size, seed: UInt8(index)), "frame \(index)")
        }
        #expect(try await pair.receivedInPlace() > 0)
    }

    @Test func connectionClosedMidFrame() async throws {
        let pair = try await connect()
        defer { Task { await pair.close() } }
        try await warmUp(pair)

        // The reader wakes for the rest of a large frame once the receive low-water mark is queued.
        let size = KafkaFrameHandler.receiveLowWaterCap + (4 << 20)
        var large = Self.frame(size: size, seed: 2)
        try await pair.send(large.readSlice(length: 4 + 100)!)
        try await waitUntil("the frame's head is buffered") { try await pair.buffered() == 100 }
        try await pair.send(large.readSlice(length: KafkaFrameHandler.receiveLowWaterCap + (1 << 20))!)
        try await waitUntil("part of the frame went in place") { try await pair.receivedInPlace() > 0 }
        try await pair.server.close()

        try await waitUntil("the client saw the close") { pair.collected.inactive.withLock { $0 } }
        #expect(pair.frameCount == FrameReadTarget.pooledReads)
        // Once the handler is gone, no read can land in the abandoned frame's buffer.
        try await waitUntil("the read target is cleared") { try await !pair.handOuts().region }
    }

    /// The socket's `SO_RCVLOWAT` as the client's kernel has it.
    func receiveLowWater(_ pair: Pair) async throws -> Int {
        Int(try await pair.client.getOption(KafkaFrameHandler.receiveLowWaterOption).get())
    }

    @Test func receiveLowWaterFollowsThePendingFrame() async throws {
        let pair = try await connect()
        defer { Task { await pair.close() } }
        try await warmUp(pair)
        #expect(try await receiveLowWater(pair) == 1)

        // A large frame's head: the reader is to wake only once a useful part of the rest is queued.
        // Larger than the mark, so that the mark has to come down before the frame's end.
        let size = KafkaFrameHandler.receiveLowWaterCap + (3 << 20)
        var large = Self.frame(size: size, seed: 5)
        try await pair.send(large.readSlice(length: 4 + 1000)!)
        try await waitUntil("the frame's head is buffered") { try await pair.buffered() == 1000 }
        let pending = try await receiveLowWater(pair)
        #expect(pending > 1 && pending <= KafkaFrameHandler.receiveLowWaterCap)

        // All but its last 1,000 bytes: the reader takes what it is woken for, and the mark must never exceed the
        // bytes still missing, or the frame's last bytes (fewer than the mark) would never wake the reader.
        try await pair.send(large.readSlice(length: size - 2000)!)
        try await waitUntil("the reader is within the mark of the frame's end") {
            try await pair.buffered() >= size - 1000 - KafkaFrameHandler.receiveLowWaterCap
        }
        let (buffered, mark) = try await pair.client.eventLoop.submit { [client = pair.client] in
            let handler = try client.pipeline.syncOperations.handler(type: KafkaFrameHandler.self)
            return (handler.bufferedBytes, handler.receiveLowWater)
        }.get()
        #expect(mark > 1 && mark <= size - buffered)
        try await pair.send(large)
        try await waitUntil("the frame arrived") { pair.frameCount == FrameReadTarget.pooledReads + 1 }
        #expect(Self.isIntact(pair.collected.frames.withLock { $0 }[FrameReadTarget.pooledReads], size: size, seed: 5))

        // No frame pending: back to the default, so small responses wake the reader at once.
        #expect(try await receiveLowWater(pair) == 1)
        try await pair.send(Self.frame(size: 10, seed: 6))
        try await waitUntil("a small frame arrived") { pair.frameCount == FrameReadTarget.pooledReads + 2 }
    }
}
