import Foundation
import Synchronization
import Testing

@testable import klife

/// `klife produce`'s line reader, over a pipe.
@Suite struct StandardInputLinesTests {
    /// A pipe whose read end feeds a reader; the write end is returned to the test.
    func pipeReader() -> (StandardInputLines, write: Int32) {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        return (StandardInputLines(descriptor: ends[0]), ends[1])
    }

    func write(_ bytes: [UInt8], to descriptor: Int32) {
        #expect(bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) } == bytes.count)
    }

    @Test func linesKeepTheirBytesAndLoseTheirLineEnds() {
        var (reader, writeEnd) = pipeReader()
        // A CRLF line, an empty line, bytes that are not UTF-8, and a last line without a newline.
        write(Array("one\r\n\ntwo".utf8) + [0xFF, 0xFE, 0x00] + Array("\nlast".utf8), to: writeEnd)
        close(writeEnd)
        #expect(reader.next() == Array("one".utf8))
        #expect(reader.next() == [])
        #expect(reader.next() == Array("two".utf8) + [0xFF, 0xFE, 0x00])
        #expect(reader.next() == Array("last".utf8))
        #expect(reader.next() == nil)
    }

    /// What lets `produce` send typed lines at once: with nothing more written, no line is ready.
    @Test func aLineIsReadyOnlyWhenInputIsWaiting() {
        var (reader, writeEnd) = pipeReader()
        write(Array("a\nb\n".utf8), to: writeEnd)
        #expect(reader.next() == Array("a".utf8))
        #expect(reader.hasLineReady())  // "b" is buffered
        #expect(reader.next() == Array("b".utf8))
        #expect(!reader.hasLineReady())  // the writer has sent nothing more
        write(Array("c\n".utf8), to: writeEnd)
        #expect(reader.hasLineReady())
        #expect(reader.next() == Array("c".utf8))
        close(writeEnd)
        #expect(reader.hasLineReady())  // the end of input is ready too
        #expect(reader.next() == nil)
    }
}

/// A stop request ends the input; a last line cut off mid-way (no `\n` yet) is left out, not sent as a record.
@Suite struct StandardInputLinesStopTests {
    @Test func aStopDropsTheIncompleteLastLine() {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let stop = Atomic<Bool>(false)
        var reader = StandardInputLines(descriptor: ends[0], stopRequested: { stop.load(ordering: .relaxed) })
        let bytes = Array("whole\nhalf of a li".utf8)
        #expect(bytes.withUnsafeBytes { Foundation.write(ends[1], $0.baseAddress, $0.count) } == bytes.count)
        #expect(reader.next() == Array("whole".utf8))
        stop.store(true, ordering: .relaxed)
        #expect(reader.next() == nil)
        #expect(reader.droppedFragmentBytes == "half of a li".utf8.count)
        close(ends[1])
        close(ends[0])
    }

    /// Without a stop, a last line without `\n` at the real end of input is a line.
    @Test func theRealEndKeepsALastLineWithoutNewline() {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        var reader = StandardInputLines(descriptor: ends[0], stopRequested: { false })
        let bytes = Array("last".utf8)
        #expect(bytes.withUnsafeBytes { Foundation.write(ends[1], $0.baseAddress, $0.count) } == bytes.count)
        close(ends[1])
        #expect(reader.next() == Array("last".utf8))
        #expect(reader.next() == nil)
        #expect(reader.droppedFragmentBytes == 0)
        close(ends[0])
    }
}
