import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Klife

/// The frame decoder and channel handler together, on an EmbeddedChannel (no network).
@Suite struct KafkaChannelHandlerTests {
    let channel: EmbeddedChannel
    let loop: EmbeddedEventLoop

    init() throws {
        loop = EmbeddedEventLoop()
        channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(KafkaFrameHandler(maxFrameBytes: 1024))
        try channel.pipeline.syncOperations.addHandler(KafkaChannelHandler(peer: "test broker", logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092)).wait()
    }

    /// A request frame as `KafkaConnection` encodes it: size, api key, version, correlation id 0, body.
    func requestFrame(apiKey: Int16, body: [UInt8] = [0xAB]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(8 + body.count))
        buffer.writeInteger(apiKey)
        buffer.writeInteger(Int16(0))
        buffer.writeInteger(Int32(0))
        buffer.writeBytes(body)
        return buffer
    }

    /// A response frame: size, correlation id, body.
    func responseFrame(correlationID: Int32, body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(4 + body.count))
        buffer.writeInteger(correlationID)
        buffer.writeBytes(body)
        return buffer
    }

    /// Writes a request expecting a response and returns its future plus the correlation id on the wire.
    func send(apiKey: Int16, timeout: TimeAmount = .seconds(30)) throws -> (EventLoopFuture<ByteBuffer>, Int32) {
        let promise = loop.makePromise(of: ByteBuffer.self)
        try channel.writeOutbound(KafkaOutboundRequest(
            frame: requestFrame(apiKey: apiKey), deadline: loop.now + timeout, responsePromise: promise
        ))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(written.getInteger(at: 4, as: Int16.self) == apiKey)
        let correlationID = try #require(written.getInteger(at: 8, as: Int32.self))
        return (promise.futureResult, correlationID)
    }

    func result(_ future: EventLoopFuture<ByteBuffer>) -> Result<ByteBuffer, any Error>? {
        var result: Result<ByteBuffer, any Error>?
        future.assumeIsolated().whenComplete { result = $0 }
        return result
    }

    func kafkaError(_ future: EventLoopFuture<ByteBuffer>) throws -> KafkaError {
        guard case .failure(let error) = result(future) else {
            Issue.record("expected the request to have failed")
            throw KafkaError(.invalidArgument, "not failed")
        }
        return try #require(error as? KafkaError)
    }

    @Test func stampsDistinctCorrelationIDsAndMatchesResponses() throws {
        let (first, id1) = try send(apiKey: 3)
        let (second, id2) = try send(apiKey: 18)
        #expect(id1 != id2)
        try channel.writeInbound(responseFrame(correlationID: id1, body: [1, 2, 3]))
        try channel.writeInbound(responseFrame(correlationID: id2, body: [4]))
        let frame1 = try result(first)!.get()
        #expect(frame1.getInteger(at: frame1.readerIndex, as: Int32.self) == id1)
        #expect(frame1.getBytes(at: frame1.readerIndex + 4, length: frame1.readableBytes - 4) == [1, 2, 3])
        let frame2 = try result(second)!.get()
        #expect(frame2.getInteger(at: frame2.readerIndex, as: Int32.self) == id2)
        #expect(frame2.getBytes(at: frame2.readerIndex + 4, length: frame2.readableBytes - 4) == [4])
    }

    @Test func frameSplitAcrossReads() throws {
        let (future, id) = try send(apiKey: 3)
        var frame = responseFrame(correlationID: id, body: Array(0..<100))
        for size in [1, 2, 3, 7, 50] {
            try channel.writeInbound(frame.readSlice(length: size)!)
            #expect(result(future) == nil)
        }
        try channel.writeInbound(frame)
        let response = try result(future)!.get()
        #expect(response.readableBytes == 104)
        #expect(response.getBytes(at: response.readerIndex + 4, length: 100) == Array(0..<100))
    }

    @Test func severalFramesInOneRead() throws {
        let requests = try (0..<3).map { _ in try send(apiKey: 1) }
        var combined = ByteBuffer()
        for (index, request) in requests.enumerated() {
            var frame = responseFrame(correlationID: request.1, body: [UInt8(index)])
            combined.writeBuffer(&frame)
        }
        try channel.writeInbound(combined)
        for (index, request) in requests.enumerated() {
            let response = try result(request.0)!.get()
            #expect(response.getBytes(at: response.readerIndex + 4, length: 1) == [UInt8(index)])
        }
    }

    @Test func oversizeFrameClosesTheConnection() throws {
        let (future, _) = try send(apiKey: 1)
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(1025))
        buffer.writeInteger(Int32(0))
        try channel.writeInbound(buffer)
        let error = try kafkaError(future)
        #expect(error.code == .frameTooLarge)
        #expect(error.message.contains("1025"))
        #expect(!channel.isActive)
    }

    @Test func negativeFrameSizeClosesTheConnection() throws {
        let (future, _) = try send(apiKey: 1)
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(-5))
        try channel.writeInbound(buffer)
        #expect(try kafkaError(future).code == .frameTooLarge)
        #expect(!channel.isActive)
    }

    @Test func outOfOrderCorrelationIDFailsEverything() throws {
        let (first, id1) = try send(apiKey: 1)
        let (second, id2) = try send(apiKey: 1)
        try channel.writeInbound(responseFrame(correlationID: id2, body: []))
        let error1 = try kafkaError(first)
        #expect(error1.code == .protocolViolation)
        #expect(error1.message.contains("\(id1)") && error1.message.contains("\(id2)"))
        #expect(try kafkaError(second).code == .protocolViolation)
        #expect(!channel.isActive)
    }

    @Test func unsolicitedResponseIsAProtocolViolation() throws {
        try channel.writeInbound(responseFrame(correlationID: 7, body: []))
        #expect(!channel.isActive)
    }

    @Test func dropFailsInFlightRequestsWithARetriableError() throws {
        let (first, _) = try send(apiKey: 1)
        let (second, _) = try send(apiKey: 2)
        channel.pipeline.fireChannelInactive()
        for future in [first, second] {
            let error = try kafkaError(future)
            #expect(error.code == .connectionClosed)
            #expect(error.isRetriable)
        }
    }

    @Test func requestAfterCloseFailsImmediately() throws {
        channel.pipeline.fireChannelInactive()
        let promise = loop.makePromise(of: ByteBuffer.self)
        let write = loop.makePromise(of: Void.self)
        channel.write(
            KafkaOutboundRequest(frame: requestFrame(apiKey: 1), deadline: loop.now + .seconds(1), responsePromise: promise),
            promise: write
        )
        channel.flush()
        #expect(try kafkaError(promise.futureResult).code == .connectionClosed)
        var writeFailed = false
        write.futureResult.assumeIsolated().whenFailure { _ in writeFailed = true }
        #expect(writeFailed)
    }

    @Test func requestWithoutResponseIsNotAwaited() throws {
        try channel.writeOutbound(KafkaOutboundRequest(
            frame: requestFrame(apiKey: 0), deadline: .distantFuture, responsePromise: nil
        ))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let fireAndForgetID = try #require(written.getInteger(at: 8, as: Int32.self))
        let (future, id) = try send(apiKey: 3)
        #expect(id != fireAndForgetID)
        // The next response belongs to the request that expects one.
        try channel.writeInbound(responseFrame(correlationID: id, body: [9]))
        #expect(try result(future)!.get().readableBytes == 5)
    }

    @Test func timeoutFailsTheRequestAndClosesTheConnection() throws {
        let (slow, _) = try send(apiKey: 1, timeout: .milliseconds(100))
        let (other, _) = try send(apiKey: 1, timeout: .seconds(30))
        loop.advanceTime(by: .milliseconds(99))
        #expect(result(slow) == nil)
        loop.advanceTime(by: .milliseconds(1))
        let error = try kafkaError(slow)
        #expect(error.code == .requestTimedOut)
        #expect(error.isRetriable)
        let otherError = try kafkaError(other)
        #expect(otherError.code == .connectionClosed)
        #expect(!channel.isActive)
    }

    @Test func timerRearmsForLaterDeadlines() throws {
        let (first, id1) = try send(apiKey: 1, timeout: .milliseconds(100))
        let (second, _) = try send(apiKey: 1, timeout: .milliseconds(300))
        try channel.writeInbound(responseFrame(correlationID: id1, body: []))
        #expect(try result(first)!.get().readableBytes == 4)
        loop.advanceTime(by: .milliseconds(200))
        #expect(result(second) == nil)
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(100))
        #expect(try kafkaError(second).code == .requestTimedOut)
    }

    @Test func closeByClientFailsInFlight() throws {
        let (future, _) = try send(apiKey: 1)
        try channel.close().wait()
        let error = try kafkaError(future)
        #expect(error.code == .connectionClosed)
        #expect(error.message.contains("closed by the client"))
    }
}
