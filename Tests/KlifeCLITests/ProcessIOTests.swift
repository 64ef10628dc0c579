import Foundation
import Testing

@testable import klife

/// The libc-based helpers that replace Foundation in the CLI, checked against Foundation where it has the same.
@Suite struct ProcessIOTests {
    @Test func cFormatFollowsPrintf() {
        #expect(cFormat("%.2fs", 1.005) == String(format: "%.2fs", 1.005))
        #expect(cFormat("%.1f ms", 12.345) == "12.3 ms")
        #expect(cFormat("   %ld records in %.2fs: %.0f records/s", 200_000, 1.5, 133_333.4) == "   200000 records in 1.50s: 133333 records/s")
        let long = String(repeating: "x", count: 1000)
        #expect(cFormat(long + "%ld", 5) == long + "5")  // beyond the first buffer
    }

    @Test func environmentValueReadsTheEnvironment() {
        setenv("KLIFE_PROCESS_IO_TEST", "value 1", 1)
        #expect(environmentValue("KLIFE_PROCESS_IO_TEST") == "value 1")
        unsetenv("KLIFE_PROCESS_IO_TEST")
        #expect(environmentValue("KLIFE_PROCESS_IO_TEST") == nil)
    }

    @Test func readTextFileReadsAllOrFails() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("klife-io-\(UUID().uuidString).txt")
        let text = String(repeating: "linger.ms=5\n# é\n", count: 10_000)  // larger than one read chunk
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try readTextFile(url.path) == text)
        #expect(throws: FileReadError.self) { try readTextFile(url.path + ".missing") }
    }

    @Test func wallClockMatchesFoundation() {
        let foundation = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(abs(wallClockMilliseconds() - foundation) < 5_000)
    }

    @Test func trimmingBlanks() {
        #expect("  a b \t".trimmingBlanks == "a b")
        #expect(" \t ".trimmingBlanks == "")
        #expect("x".trimmingBlanks == "x")
    }
}
