import Histogram
import Synchronization

/// Latencies in nanoseconds, in an HdrHistogram (3 significant digits; sized for 10 s and grown for anything
/// longer). The concurrent callers of a workload share one behind a lock: its counts are ~200 KB, and one per
/// caller made 16 callers' histograms 4 MB of the process's peak RSS (the librdkafka harness keeps 8 bytes per
/// record).
struct BenchLatencyRecorder: Sendable {
    private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: 10 * 1_000_000_000,
        numberOfSignificantValueDigits: .three
    )

    init() {
        histogram.autoResize = true
    }

    var count: Int { Int(histogram.totalCount) }

    mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
        _ = histogram.record(UInt64(max(1, nanoseconds)))
    }

    mutating func record(nanoseconds: UInt64) {
        _ = histogram.record(max(1, nanoseconds))
    }

    /// The percentiles the reports print, in microseconds; nil when nothing was recorded.
    var summary: BenchLatencySummary? {
        guard histogram.totalCount > 0 else { return nil }
        func micros(_ ns: UInt64) -> Double { Double(ns) / 1000 }
        return BenchLatencySummary(
            p50: micros(histogram.valueAtPercentile(50)),
            p99: micros(histogram.valueAtPercentile(99)),
            p999: micros(histogram.valueAtPercentile(99.9)),
            max: micros(histogram.max),
            mean: histogram.mean / 1000
        )
    }
}

/// Latency percentiles in microseconds.
struct BenchLatencySummary: Sendable, Equatable {
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double
    var mean: Double
}

extension BenchLatencyRecorder {
    /// One recorder for concurrent callers.
    final class Shared: Sendable {
        private let recorder = Mutex(BenchLatencyRecorder())

        func record(_ duration: Duration) {
            recorder.withLock { $0.record(duration) }
        }

        var snapshot: BenchLatencyRecorder { recorder.withLock { $0 } }
    }
}
