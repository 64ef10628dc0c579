/// Decides when to send a Metadata request: periodic refreshes, on-demand refreshes coalesced while one is
/// in flight, and retries with capped exponential backoff after failures.
///
/// The metadata task feeds it events and executes the returned actions; it holds no clock or I/O itself.
struct MetadataRefreshStateMachine: Sendable {
    enum Action: Equatable, Sendable {
        /// Send a Metadata request now.
        case sendRequest
        /// Nothing to do.
        case none
        /// Send a Metadata request after waiting this long (after a failure).
        case retryAfter(Duration)
    }

    private enum State: Equatable {
        case idle
        /// A request is in flight; `pending` records a refresh asked for meanwhile.
        case requesting(pending: Bool)
        /// Waiting out a backoff before retrying.
        case backingOff
    }

    private var state: State = .idle
    /// Consecutive failed requests.
    private(set) var consecutiveFailures = 0
    /// Whether at least one request succeeded.
    private(set) var hasSucceeded = false
    let initialBackoff: Duration
    let maxBackoff: Duration

    init(initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5)) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// A refresh is wanted (timer, stale leader, broker change, caller on demand).
    mutating func refreshRequested() -> Action {
        switch state {
        case .idle:
            state = .requesting(pending: false)
            return .sendRequest
        case .requesting:
            state = .requesting(pending: true)
            return .none
        case .backingOff:
            // The retry that is already scheduled covers this request.
            return .none
        }
    }

    /// The request answered; the metadata was applied.
    mutating func requestSucceeded() -> Action {
        consecutiveFailures = 0
        hasSucceeded = true
        if case .requesting(pending: true) = state {
            state = .requesting(pending: false)
            return .sendRequest
        }
        state = .idle
        return .none
    }

    /// The request failed (transport error, timeout, every broker unreachable).
    mutating func requestFailed() -> Action {
        consecutiveFailures += 1
        state = .backingOff
        return .retryAfter(backoff(attempt: consecutiveFailures))
    }

    /// The backoff after a failure has elapsed.
    mutating func backoffElapsed() -> Action {
        guard state == .backingOff else { return .none }
        state = .requesting(pending: false)
        return .sendRequest
    }

    /// Whether a request is in flight.
    var isRequesting: Bool {
        if case .requesting = state { return true }
        return false
    }

    func backoff(attempt: Int) -> Duration {
        var delay = initialBackoff
        for _ in 1..<max(attempt, 1) {
            delay = delay * 2
            if delay >= maxBackoff { return maxBackoff }
        }
        return min(delay, maxBackoff)
    }
}
