import NIOCore
import Testing

@testable import Klife

/// Frame assembly without a channel: any split of the byte stream gives the same frames, whole frames are
/// not copied, split frames are copied once into a buffer of their size.
@Suite struct KafkaFrameAssemblerTests {
    let allocator = ByteBufferAllocator()

    /// Frames of these body sizes, each body filled with its index, encoded back to back.
    func stream(_ sizes: [Int]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for (index, size) in sizes.enumerated() {
            buffer.writeInteger(Int32(size))
            buffer.writeRepeatingByte(UInt8(index), count: size)
        }
        return buffer
    }

    func feed(_ assembler: inout KafkaFrameAssembler, _ input: ByteBuffer) throws -> [ByteBuffer] {
        var input = input
        var frames: [ByteBuffer] = []
        while let frame = try assembler.nextFrame(from: &input, allocator: allocator) { frames.append(frame) }
        #expect(input.readableBytes == 0)
        return frames
    }

    func check(_ frames: [ByteBuffer], sizes: [Int]) {
        #expect(frames.count == sizes.count)
        for (index, (frame, size)) in zip(frames, sizes).enumerated() {
            #expect(frame.readableBytes == size)
            #expect(frame.readableBytesView.allSatisfy { $0 == UInt8(index) })
        }
    }

    @Test func everySplitPointGivesTheSameFrames() throws {
        let sizes = [5, 0, 300, 1, 17]
        let whole = stream(sizes)
        for cut in 0...whole.readableBytes {
            var assembler = KafkaFrameAssembler(maxFrameBytes: 1000)
            var frames = try feed(&assembler, whole.getSlice(at: 0, length: cut)!)
            frames += try feed(&assembler, whole.getSlice(at: cut, length: whole.readableBytes - cut)!)
            check(frames, sizes: sizes)
            #expect(assembler.bufferedBytes == 0)
        }
    }

    @Test func oneByteAtATime() throws {
        let sizes = [3, 0, 70, 2]
        let whole = stream(sizes)
        var assembler = KafkaFrameAssembler(maxFrameBytes: 100)
        var frames: [ByteBuffer] = []
        for index in 0..<whole.readableBytes {
            frames += try feed(&assembler, whole.getSlice(at: index, length: 1)!)
        }
        check(frames, sizes: sizes)
    }

    @Test func wholeFrameIsASliceOfTheRead() throws {
        let input = stream([64])
        var assembler = KafkaFrameAssembler(maxFrameBytes: 100)
        let frames = try feed(&assembler, input)
        // The same storage: the frame's bytes are the read's bytes after the 4-byte size.
        let frame = try #require(frames.first)
        let inputBytes = input.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let frameBytes = frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(frameBytes == inputBytes + 4)
    }

    /// NIO rounds capacities up to a power of two; no growth beyond that.
    func isRightSized(_ frame: ByteBuffer?, _ size: Int) -> Bool {
        guard let frame else { return false }
        return frame.capacity >= size && frame.capacity < 2 * size
    }

    @Test func splitFrameIsCopiedIntoARightSizedBuffer() throws {
        let whole = stream([1000])
        var assembler = KafkaFrameAssembler(maxFrameBytes: 2000)
        #expect(try feed(&assembler, whole.getSlice(at: 0, length: 10)!).isEmpty)
        #expect(assembler.bufferedBytes == 6)
        let frames = try feed(&assembler, whole.getSlice(at: 10, length: whole.readableBytes - 10)!)
        check(frames, sizes: [1000])
        #expect(isRightSized(frames.first, 1000))
    }

    func base(_ buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// A large split frame: the first 100 bytes in one read, the rest in another.
    func splitLargeFrame(_ assembler: inout KafkaFrameAssembler, size: Int, fill: Int) throws -> ByteBuffer {
        var whole = ByteBuffer()
        whole.writeInteger(Int32(size))
        whole.writeRepeatingByte(UInt8(fill), count: size)
        #expect(try feed(&assembler, whole.getSlice(at: 0, length: 100)!).isEmpty)
        let frames = try feed(&assembler, whole.getSlice(at: 100, length: whole.readableBytes - 100)!)
        return try #require(frames.first)
    }

    @Test func frameOfMegabytesCopiedWithStreamingStoresKeepsEveryByte() throws {
        // Above streamingThreshold the copy uses non-temporal stores with an unaligned head and tail:
        // odd read sizes put every piece at a different alignment.
        let size = KafkaFrameAssembler.streamingThreshold + 37
        var whole = ByteBuffer()
        whole.writeInteger(Int32(size))
        var state: UInt32 = 12345
        for _ in 0..<size {
            state = state &* 1_103_515_245 &+ 12345
            whole.writeInteger(UInt8(truncatingIfNeeded: state >> 16))
        }
        let body = whole.getSlice(at: 4, length: size)!
        for readSize in [65_521, 4_093, 1_000_003] {
            var assembler = KafkaFrameAssembler(maxFrameBytes: 4 << 20)
            var frames: [ByteBuffer] = []
            var offset = 0
            while offset < whole.readableBytes {
                let length = min(readSize, whole.readableBytes - offset)
                frames += try feed(&assembler, whole.getSlice(at: offset, length: length)!)
                offset += length
            }
            #expect(frames.count == 1)
            #expect(frames.first == body, "read size \(readSize)")
        }
    }

    @Test func largeSplitFrameIsPlacedForAlignedDirectReads() throws {
        // The bytes after the first read (96 of the body here) start on a cache-line boundary, where the
        // socket's direct reads into the frame (FrameReadAllocator) are cheapest.
        var assembler = KafkaFrameAssembler(maxFrameBytes: 1 << 20)
        let frame = try splitLargeFrame(&assembler, size: 100_000, fill: 3)
        let start = frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect((start + 96) % 64 == 0)
        #expect(frame.readableBytes == 100_000)
        #expect(frame.readableBytesView.allSatisfy { $0 == 3 })
    }

    @Test func alignmentNeverDoublesAFramesBuffer() throws {
        // Just under a power of two there is no room to shift the body: no alignment, no larger buffer.
        var assembler = KafkaFrameAssembler(maxFrameBytes: 1 << 20)
        let frame = try splitLargeFrame(&assembler, size: (1 << 17) - 10, fill: 4)
        #expect(frame.capacity == 1 << 17)
        #expect(frame.readableBytesView.allSatisfy { $0 == 4 })
        #expect(KafkaFrameAssembler.roundedCapacity(1 << 17) == 1 << 17)
        #expect(KafkaFrameAssembler.roundedCapacity((1 << 17) + 1) == 1 << 18)
    }

    @Test func largeFrameBufferIsReusedOnceReleased() throws {
        let size = KafkaFrameAssembler.reuseThreshold + 10
        var assembler = KafkaFrameAssembler(maxFrameBytes: 1 << 20)
        var first: ByteBuffer? = try splitLargeFrame(&assembler, size: size, fill: 1)
        let firstBase = base(first!)
        first = nil
        let second = try splitLargeFrame(&assembler, size: size - 5, fill: 2)
        #expect(base(second) == firstBase)
        #expect(second.readableBytes == size - 5)
        #expect(second.readableBytesView.allSatisfy { $0 == 2 })
    }

    @Test func assemblerWithoutSpareKeepsNoBuffer() throws {
        let size = KafkaFrameAssembler.reuseThreshold + 10
        var keeping = KafkaFrameAssembler(maxFrameBytes: 1 << 20)
        var notKeeping = KafkaFrameAssembler(maxFrameBytes: 1 << 20, spares: nil)
        _ = try splitLargeFrame(&keeping, size: size, fill: 1)
        let frame = try splitLargeFrame(&notKeeping, size: size, fill: 1)
        #expect(keeping.holdsSpareBuffer)
        #expect(!notKeeping.holdsSpareBuffer)
        #expect(frame.readableBytes == size)
        #expect(frame.readableBytesView.allSatisfy { $0 == 1 })
        // It still assembles the next frame.
        let second = try splitLargeFrame(&notKeeping, size: size - 5, fill: 2)
        #expect(second.readableBytes == size - 5)
        #expect(second.readableBytesView.allSatisfy { $0 == 2 })
        #expect(!notKeeping.holdsSpareBuffer)
    }

    @Test func connectionsSharingSparesReuseEachOthersReleasedBuffer() throws {
        // A broker's general connection and fetch lane: a frame released by one's caller is the buffer the
        // other fills next.
        let size = KafkaFrameAssembler.reuseThreshold * 2
        let spares = SpareFrameBuffers(connections: 2)
        var general = KafkaFrameAssembler(maxFrameBytes: 1 << 20, spares: spares)
        var lane = KafkaFrameAssembler(maxFrameBytes: 1 << 20, spares: spares)
        var first: ByteBuffer? = try splitLargeFrame(&general, size: size, fill: 1)
        let firstBase = base(first!)
        // Held by its caller: the lane's frame goes into other memory and leaves the first intact.
        var second: ByteBuffer? = try splitLargeFrame(&lane, size: size, fill: 2)
        let secondBase = base(second!)
        #expect(secondBase != firstBase)
        #expect(first!.readableBytesView.allSatisfy { $0 == 1 })
        #expect(spares.keptCount == 2)
        // The first is released: the lane's next frame reuses it while the second is still held.
        first = nil
        let third = try splitLargeFrame(&lane, size: size - 3, fill: 3)
        #expect(base(third) == firstBase)
        #expect(third.readableBytes == size - 3)
        #expect(third.readableBytesView.allSatisfy { $0 == 3 })
        #expect(second!.readableBytesView.allSatisfy { $0 == 2 })
        // The second is released: the general connection takes it.
        second = nil
        let fourth = try splitLargeFrame(&general, size: size, fill: 4)
        #expect(base(fourth) == secondBase)
        #expect(fourth.readableBytesView.allSatisfy { $0 == 4 })
        #expect(spares.keptCount == 2)
    }

    @Test func heldLargeFrameIsNeitherReusedNorOverwritten() throws {
        let size = KafkaFrameAssembler.reuseThreshold * 3
        var assembler = KafkaFrameAssembler(maxFrameBytes: 1 << 20)
        let first = try splitLargeFrame(&assembler, size: size, fill: 1)
        let second = try splitLargeFrame(&assembler, size: size, fill: 2)
        #expect(base(second) != base(first))
        #expect(first.readableBytesView.allSatisfy { $0 == 1 })
        #expect(second.readableBytesView.allSatisfy { $0 == 2 })
        // A much smaller (but still large) frame does not take the large buffer.
        let third = try splitLargeFrame(&assembler, size: size / 3 + 10, fill: 3)
        #expect(isRightSized(third, size / 3 + 10))
    }

    @Test func oversizeFrameThrowsBeforeBuffering() throws {
        var input = ByteBuffer()
        input.writeInteger(Int32(101))
        var assembler = KafkaFrameAssembler(maxFrameBytes: 100)
        let error = try #require(throws: KafkaError.self) { try assembler.nextFrame(from: &input, allocator: allocator) }
        #expect(error.code == .frameTooLarge)
        #expect(error.message.contains("101"))
        #expect(assembler.bufferedBytes == 0)
    }

    @Test func negativeSizeSplitAcrossReadsThrows() throws {
        var assembler = KafkaFrameAssembler(maxFrameBytes: 100)
        var first = ByteBuffer(bytes: [0xFF, 0xFF])
        #expect(try assembler.nextFrame(from: &first, allocator: allocator) == nil)
        var second = ByteBuffer(bytes: [0xFF, 0xFB])
        let error = try #require(throws: KafkaError.self) { try assembler.nextFrame(from: &second, allocator: allocator) }
        #expect(error.code == .frameTooLarge)
        #expect(error.message.contains("-5"))
    }
}
