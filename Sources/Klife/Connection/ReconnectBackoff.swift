/// Capped exponential backoff with jitter for reconnecting to a broker.
///
/// The n-th consecutive failure waits `initial · 2ⁿ⁻¹`, capped at `maximum`, multiplied by a random
/// factor in `1 ± jitter` (and capped again), so that many clients that lost the same broker do not
/// reconnect in lockstep.
struct ReconnectBackoff: Sendable, Equatable {
    let initial: Duration
    let maximum: Duration
    let jitter: Double
    /// Consecutive failures so far.
    private(set) var failures = 0

    init(initial: Duration, maximum: Duration, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.jitter = jitter
    }

    /// Records a failure and returns how long to wait before the next attempt.
    mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        let exponent = min(failures, 30)
        failures += 1
        var delay = initial
        for _ in 0..<exponent {
            delay *= 2
            if delay >= maximum { break }
        }
        delay = min(delay, maximum)
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter), using: &generator) : 1
        return min(delay * factor, maximum)
    }

    /// A connection succeeded: the next failure starts from `initial` again.
    mutating func reset() {
        failures = 0
    }
}
