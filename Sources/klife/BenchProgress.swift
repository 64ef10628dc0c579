import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Counts what a benchmark has done so far. Workloads add to it from any task (two atomic adds, no lock);
/// the progress line reads it.
final class BenchProgress: Sendable {
    let totalRecords: Int
    private let recordsDone = Atomic<Int>(0)
    private let bytesDone = Atomic<Int>(0)

    init(totalRecords: Int) {
        self.totalRecords = totalRecords
    }

    func add(records: Int, bytes: Int) {
        recordsDone.add(records, ordering: .relaxed)
        bytesDone.add(bytes, ordering: .relaxed)
    }

    var records: Int { recordsDone.load(ordering: .relaxed) }
    var bytes: Int { bytesDone.load(ordering: .relaxed) }
}

/// The progress line on stderr: `[#####-----]  512,000/1,000,000 records  51%  48.3 MB/s  5.3 s  ETA 5.1 s`.
struct BenchProgressLine: Sendable {
    var barWidth = 24

    func render(records: Int, total: Int, bytes: Int, elapsedSeconds: Double) -> String {
        let fraction = total > 0 ? min(1, max(0, Double(records) / Double(total))) : 0
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled)
        let rate = elapsedSeconds > 0 ? Double(bytes) / 1e6 / elapsedSeconds : 0
        var eta = "ETA --"
        if records > 0 && records < total && elapsedSeconds > 0 {
            let remaining = elapsedSeconds * Double(total - records) / Double(records)
            eta = "ETA " + Self.duration(remaining)
        } else if records >= total {
            eta = "done"
        }
        return "[\(bar)] \(records.grouped)/\(total.grouped) records \(Int((fraction * 100).rounded(.down)))% "
            + "\(BenchReport.fixed(rate, 1)) MB/s \(Self.duration(elapsedSeconds)) \(eta)"
    }

    /// 5.3 s, 2m05s, 1h02m.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--" }
        if seconds < 60 { return BenchReport.fixed(seconds, 1) + " s" }
        let s = Int(seconds.rounded())
        if s < 3600 { return "\(s / 60)m" + (s % 60 < 10 ? "0" : "") + "\(s % 60)s" }
        return "\(s / 3600)h" + ((s % 3600) / 60 < 10 ? "0" : "") + "\((s % 3600) / 60)m"
    }
}

/// Draws the progress line on stderr until cancelled: redrawn in place ten times a second on a terminal,
/// a plain line every five seconds otherwise (so logs stay readable).
struct BenchProgressReporter: Sendable {
    let progress: BenchProgress
    let clock = ContinuousClock()
    let isTerminal = isatty(STDERR_FILENO) == 1

    func run(startedAt start: ContinuousClock.Instant) async {
        let line = BenchProgressLine()
        let interval: Duration = isTerminal ? .milliseconds(100) : .seconds(5)
        var drawn = false
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { break }
            let elapsed = Self.seconds(clock.now - start)
            let text = line.render(records: progress.records, total: progress.totalRecords,
                                   bytes: progress.bytes, elapsedSeconds: elapsed)
            Self.writeStderr(isTerminal ? "\r\u{1B}[2K" + text : text + "\n")
            drawn = true
        }
        if drawn && isTerminal {
            let text = line.render(records: progress.records, total: progress.totalRecords, bytes: progress.bytes,
                                   elapsedSeconds: Self.seconds(clock.now - start))
            Self.writeStderr("\r\u{1B}[2K" + text + "\n")
        }
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) / 1e18
    }

    static func writeStderr(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
