import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The few process services the CLI needs, straight from libc: importing Foundation for them would load
// libFoundation and ICU (about 6 MB resident) into every klife process, benchmarks included.

/// The value of the environment variable `name`, nil when unset.
func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Writes `text` to stderr unbuffered (progress lines and errors appear at once).
func writeToStandardError(_ text: String) {
    var text = text
    _ = text.withUTF8 { writeAll($0, to: 2) }
}

/// Writes `text` to stdout unbuffered; false when stdout is closed (see ``StandardOutput``).
@discardableResult
func writeToStandardOutput(_ text: String) -> Bool {
    var text = text
    return text.withUTF8 { StandardOutput.write($0) }
}

/// Writes `bytes` to stdout unbuffered, as they are; false when stdout is closed (see ``StandardOutput``).
@discardableResult
func writeToStandardOutput(bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBufferPointer { StandardOutput.write($0) }
}

/// Standard output, remembering whether a write failed. SwiftNIO ignores SIGPIPE, so a reader that went
/// away (`klife consume | head -1`) shows only as a failed write; a command that prints records checks
/// ``isClosed`` and stops instead of reading (and committing) records nobody sees.
enum StandardOutput {
    private static let closed = Atomic<Bool>(false)

    /// Whether a write to stdout has failed (the reader closed the pipe, or the disk is full).
    static var isClosed: Bool { closed.load(ordering: .relaxed) }

    /// The exit status of a command stopped by a closed stdout: that of a process ended by SIGPIPE.
    static let closedExitStatus: Int32 = 128 + SIGPIPE

    fileprivate static func write(_ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !isClosed else { return false }
        guard writeAll(buffer, to: 1) else {
            closed.store(true, ordering: .relaxed)
            return false
        }
        return true
    }
}

/// Whether all of `buffer` was written (false: a write failed, for example on a closed pipe).
private func writeAll(_ buffer: UnsafeBufferPointer<UInt8>, to descriptor: Int32) -> Bool {
    guard let base = buffer.baseAddress else { return true }
    var offset = 0
    while offset < buffer.count {
        let written = write(descriptor, base + offset, buffer.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}

/// `format` filled in by C's `printf` rules (`%.2f`, `%ld` for `Int`, `%.0f`, ...).
func cFormat(_ format: String, _ arguments: any CVarArg...) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    while true {
        let needed = withVaList(arguments) { list in
            buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, list) }
        }
        if needed < 0 { return format }
        if Int(needed) < buffer.count {
            return String(decoding: buffer[..<Int(needed)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        buffer = [CChar](repeating: 0, count: Int(needed) + 1)
    }
}

/// Milliseconds since the Unix epoch by the wall clock (record timestamps).
func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// A file that cannot be read: its path and the system's reason.
struct FileReadError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "cannot read \(path): \(reason)" }
}

/// The whole of the text file at `path` (UTF-8; invalid sequences replaced).
///
/// - Throws: ``FileReadError`` when the file cannot be opened or read.
func readTextFile(_ path: String) throws(FileReadError) -> String {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileReadError(path: path, reason: String(cString: strerror(errno)))
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingBlanks: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}

/// Ctrl-C (SIGINT) and SIGTERM turned into a flag a loop checks, so a command can stop cleanly (a consumer
/// group member commits what it printed and leaves the group) instead of dying mid-way.
enum StopSignals {
    private static let received = Atomic<Bool>(false)

    /// From now on the first SIGINT or SIGTERM sets ``wasReceived`` instead of ending the process; a second
    /// one ends it at once (status 130), for a user who will not wait for the clean stop.
    static func trap() {
        signal(SIGINT) { _ in StopSignals.onSignal() }
        signal(SIGTERM) { _ in StopSignals.onSignal() }
    }

    /// The signal handler: only async-signal-safe work (a lock-free atomic, `_exit`).
    private static func onSignal() {
        if received.exchange(true, ordering: .relaxed) { _exit(130) }
    }

    /// Back to the default: the signals end the process.
    static func release() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    static var wasReceived: Bool { received.load(ordering: .relaxed) }
}
