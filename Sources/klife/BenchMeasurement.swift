/// What one workload measured; the command adds the process's CPU time and peak RSS and prints it.
struct BenchMeasurement: Sendable {
    /// Records produced (acknowledged) or consumed inside the clock.
    var records: Int
    /// Value bytes of those records.
    var bytes: Int
    /// From the first produce call (or the first fetch) to the last acknowledgement (or the N-th record).
    var elapsed: Duration
    /// Partitions the records were spread over (or read from).
    var partitions: Int
    /// Per-record latency, for synchronous produce and roundtrip.
    var latency: BenchLatencyRecorder?
}

/// The benchmark could not run its workload.
struct BenchWorkloadError: Error, CustomStringConvertible {
    enum Kind: Sendable { case failed, timedOut }
    var kind: Kind
    var description: String
}
