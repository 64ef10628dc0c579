import KafkaProtocol
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import Klife

/// Request frames are written without a copy, and large frame buffers come back for reuse once written.
@Suite struct FrameBufferRecyclerTests {
    /// Where a buffer's bytes live: equal addresses mean the same storage (no copy was made).
    static func storageAddress(_ buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// A request frame: size, api key, version 0, correlation id 0, then `bodyBytes` zero bytes.
    static func requestFrame(apiKey: Int16, bodyBytes: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var frame = allocator.buffer(capacity: 12 + bodyBytes)
        frame.writeInteger(Int32(8 + bodyBytes))
        frame.writeInteger(apiKey)
        frame.writeInteger(Int16(0))
        frame.writeInteger(Int32(0))
        frame.writeRepeatingByte(0, count: bodyBytes)
        return frame
    }

    @Test func handlerStampsTheCorrelationIDWithoutCopyingTheFrame() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(KafkaChannelHandler(peer: "test broker", logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092)).wait()
        for apiKey: Int16 in [0, 3] {
            let frame = Self.requestFrame(apiKey: apiKey, bodyBytes: 100_000)
            let address = Self.storageAddress(frame)
            try channel.writeOutbound(KafkaOutboundRequest(
                frame: consume frame, deadline: loop.now + .seconds(30), responsePromise: loop.makePromise()))
            let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(Self.storageAddress(written) == address, "the frame was copied to stamp its correlation id")
            #expect(written.getInteger(at: 8, as: Int32.self) != 0 || apiKey == 0)
            #expect(written.readableBytes == 100_012)
        }
        _ = try? channel.finish()
    }

    @Test func keepsOnlyLargeBuffersUpToItsBoundAndHandsOutTheSmallestThatFits() {
        let recycler = FrameBufferRecycler(minimumCapacity: 1024, maximumKept: 2)
        let allocator = ByteBufferAllocator()
        recycler.recycle(allocator.buffer(capacity: 512))  // too small: released
        #expect(recycler.keptCount == 0)
        var big = allocator.buffer(capacity: 8192)
        big.writeString("old bytes")
        let bigAddress = Self.storageAddress(big)
        let medium = allocator.buffer(capacity: 2048)
        let mediumAddress = Self.storageAddress(medium)
        recycler.recycle(consume big)
        recycler.recycle(consume medium)
        recycler.recycle(allocator.buffer(capacity: 1024))  // smaller than both kept: released
        #expect(recycler.keptCount == 2)
        let forSmall = recycler.buffer(capacity: 1500, allocator: allocator)
        #expect(Self.storageAddress(forSmall) == mediumAddress)
        let forLarge = recycler.buffer(capacity: 5000, allocator: allocator)
        #expect(Self.storageAddress(forLarge) == bigAddress)
        #expect(forLarge.readableBytes == 0 && forLarge.writerIndex == 0)
        // Nothing kept fits: a new buffer.
        let fresh = recycler.buffer(capacity: 4096, allocator: allocator)
        #expect(fresh.capacity >= 4096 && recycler.keptCount == 0)
        // Small requests never touch the kept buffers.
        recycler.recycle(consume forLarge)
        #expect(Self.storageAddress(recycler.buffer(capacity: 100, allocator: allocator)) != bigAddress)
        #expect(recycler.keptCount == 1)
    }

    @Test func aLargeFrameWrittenToASocketComesBackForTheNextOne() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        // The scripted broker never answers Produce: like acks=0, only the write is awaited. A generous connect
        // timeout: under a loaded machine (tests run in parallel) the set-up took over 5 s once.
        let server = try await ScriptedKafkaServer.start(.init(silentAPIs: [ProduceRequest.apiKey]), group: group)
        defer { Task { await server.stop() } }
        let connection = try await KafkaConnection.connect(
            to: server.address, brokerID: 7,
            configuration: KafkaConnectionConfiguration(bootstrapServers: [server.address], connectTimeout: .seconds(30)),
            eventLoopGroup: group, logger: Logger(label: "klife.tests.recycler"))
        let frame = Self.requestFrame(apiKey: ProduceRequest.apiKey, bodyBytes: 300_000, allocator: connection.allocator)
        let address = Self.storageAddress(frame)
        try await connection.enqueueFrameWithoutResponse(consume frame).get()
        let deadline = ContinuousClock.now + .seconds(10)
        while connection.frameBuffers.keptCount == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(connection.frameBuffers.keptCount == 1)
        let next = connection.frameBuffers.buffer(capacity: 200_000, allocator: connection.allocator)
        #expect(Self.storageAddress(next) == address, "the written frame's buffer was not reused")
        await connection.close()
    }
}
