import NIOCore
import Testing

@testable import Klife

/// The large-response buffers a broker's connections share: reuse only of buffers no one else holds, at most
/// one kept per attached connection.
@Suite struct SpareFrameBuffersTests {
    let allocator = ByteBufferAllocator()
    let size = 256 * 1024

    func frame(capacity: Int, fill: UInt8) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacity)
        buffer.writeRepeatingByte(fill, count: capacity)
        return buffer
    }

    func base(_ buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    @Test func releasedBufferIsTakenClearedAndHeldOneIsNot() {
        let spares = SpareFrameBuffers(connections: 2)
        var held: ByteBuffer? = frame(capacity: size, fill: 1)
        spares.keep(held!)
        #expect(spares.take(fitting: size) == nil)  // still referenced by `held`
        #expect(spares.keptCount == 1)
        let heldBase = base(held!)
        held = nil
        let taken = spares.take(fitting: size - 100)
        #expect(taken.map(base) == heldBase)
        #expect(taken?.readableBytes == 0)
        #expect(spares.keptCount == 0)  // out while being filled
    }

    @Test func keepsAtMostOnePerAttachedConnection() {
        let spares = SpareFrameBuffers()
        spares.keep(frame(capacity: size, fill: 1))
        #expect(spares.keptCount == 0)  // no connection attached
        spares.attach()
        spares.attach()
        let frames = (1...3).map { frame(capacity: size, fill: UInt8($0)) }
        for frame in frames { spares.keep(frame) }
        #expect(spares.keptCount == 2)
        #expect(spares.limit == 2)
    }

    @Test func fullSetReplacesAHeldBufferNeverAFreeOne() {
        let spares = SpareFrameBuffers(connections: 1)
        var first: ByteBuffer? = frame(capacity: size, fill: 1)
        spares.keep(first!)
        // Full, the kept one held elsewhere: the newer frame takes its slot.
        var second: ByteBuffer? = frame(capacity: size, fill: 2)
        let secondBase = base(second!)
        spares.keep(second!)
        first = nil
        second = nil
        #expect(spares.keptCount == 1)
        // Full with a free buffer: a newer frame is not kept in its place.
        let third = frame(capacity: size, fill: 3)
        spares.keep(third)
        #expect(spares.take(fitting: size).map(base) == secondBase)
        #expect(third.readableBytesView.allSatisfy { $0 == 3 })
    }

    @Test func heldBufferGivesUpItsSlotToTheNextFrameWhenFull() {
        let spares = SpareFrameBuffers(connections: 1)
        let held = frame(capacity: size, fill: 1)
        spares.keep(held)
        // No free buffer: the caller allocates, and the held one is no longer kept (freed when its holder
        // lets go), so the new frame can be kept.
        #expect(spares.take(fitting: size) == nil)
        #expect(spares.keptCount == 0)
        #expect(held.readableBytesView.allSatisfy { $0 == 1 })
        // With a slot open, a held buffer stays kept.
        let roomy = SpareFrameBuffers(connections: 2)
        roomy.keep(held)
        #expect(roomy.take(fitting: size) == nil)
        #expect(roomy.keptCount == 1)
    }

    @Test func freeBufferThatDoesNotFitMakesRoomWhenFull() {
        let spares = SpareFrameBuffers(connections: 1)
        spares.keep(frame(capacity: size * 4, fill: 1))
        // Four times too large for this frame: not handed out, but released so that this frame's buffer
        // can be kept instead.
        #expect(spares.take(fitting: size) == nil)
        #expect(spares.keptCount == 0)
        // With a free slot it stays for a frame it fits.
        let roomy = SpareFrameBuffers(connections: 2)
        roomy.keep(frame(capacity: size * 4, fill: 1))
        #expect(roomy.take(fitting: size) == nil)
        #expect(roomy.keptCount == 1)
        #expect(roomy.take(fitting: size * 3) != nil)
    }

    @Test func detachReleasesFreeBuffersBeyondTheNewLimitFirst() {
        let spares = SpareFrameBuffers(connections: 2)
        let held = frame(capacity: size, fill: 1)
        spares.keep(held)
        spares.keep(frame(capacity: size * 2, fill: 2))
        spares.detach()
        #expect(spares.limit == 1)
        #expect(spares.keptCount == 1)
        // The free one went; the one kept is `held`'s.
        #expect(spares.take(fitting: size) == nil)
        spares.detach()
        #expect(spares.keptCount == 0)
        #expect(held.readableBytesView.allSatisfy { $0 == 1 })
    }
}
