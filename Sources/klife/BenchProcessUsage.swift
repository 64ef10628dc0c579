#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time and peak resident memory of this process (getrusage(RUSAGE_SELF)), the same numbers the
/// librdkafka harness reports for itself.
struct BenchProcessUsage: Sendable, Equatable {
    var userSeconds: Double
    var systemSeconds: Double
    /// Peak resident set size in bytes.
    var peakResidentBytes: Int

    var cpuSeconds: Double { userSeconds + systemSeconds }

    static func current() -> BenchProcessUsage {
        var usage = rusage()
        #if canImport(Glibc)
        _ = getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        _ = getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        #if canImport(Darwin)
        let peak = Int(usage.ru_maxrss)  // bytes on Darwin
        #else
        let peak = Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #endif
        return BenchProcessUsage(
            userSeconds: seconds(usage.ru_utime),
            systemSeconds: seconds(usage.ru_stime),
            peakResidentBytes: peak
        )
    }
}
