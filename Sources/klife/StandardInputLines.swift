#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The lines of standard input as raw bytes, read with `read(2)` rather than C's buffered stdio: bytes are
/// passed on as they are (binary keys and values are not turned into U+FFFD), and ``hasLineReady()`` can
/// tell whether the next line is there now, so a caller sends what it has before it blocks for more.
struct StandardInputLines {
    private var buffer: [UInt8] = []
    private var start = 0
    private var reachedEnd = false
    /// Set when a stop request ended the input: a last line without `\n` is then a fragment, not a line.
    private var stopped = false
    /// The bytes of an incomplete last line left out because a stop request ended the input.
    private(set) var droppedFragmentBytes = 0
    private let descriptor: Int32
    /// Checked while waiting for input: once true, input counts as ended (a Ctrl-C while waiting for a line
    /// should end the input, not the process with records still buffered).
    private let stopRequested: @Sendable () -> Bool

    init(descriptor: Int32 = 0, stopRequested: @escaping @Sendable () -> Bool = { false }) {
        self.descriptor = descriptor
        self.stopRequested = stopRequested
    }

    /// The next line without its `\n` (nor a `\r` before it); a last line without `\n` counts. nil at the end
    /// of input or once `stopRequested` says so. Blocks until a line, the end or a stop request arrives.
    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(buffer[start..<end])
                start = newline + 1
                return line
            }
            if reachedEnd {
                guard start < buffer.count else { return nil }
                if stopped {
                    // Cut off mid-line (a pipe delivers any number of bytes): sending it would send half a record.
                    droppedFragmentBytes = buffer.count - start
                    start = buffer.count
                    return nil
                }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            fill()
        }
    }

    /// Whether ``next()`` would return without waiting for input.
    func hasLineReady() -> Bool {
        if reachedEnd || buffer[start...].contains(UInt8(ascii: "\n")) { return true }
        var descriptorPoll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptorPoll, 1, 0) > 0
    }

    /// Reads what is available (at least one byte, or the end), dropping the lines already returned.
    private mutating func fill() {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if stopRequested() {
                reachedEnd = true
                stopped = true
                return
            }
            // Wait in short slices: a signal handler only sets a flag (and `read` restarts after it).
            var descriptorPoll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptorPoll, 1, 100)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                reachedEnd = true
            } else {
                buffer.append(contentsOf: chunk[..<count])
            }
            return
        }
    }
}
