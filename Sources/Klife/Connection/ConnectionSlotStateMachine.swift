import NIOCore

/// The life of one connection slot of a broker (lazy connect, reuse, reconnect with backoff), as a value
/// type. `Pending` is what waiters share while a connect is in progress (an `EventLoopFuture` in the
/// pool, anything in tests).
///
/// ```
/// idle ──acquire──▶ connecting ──ok──▶ connected ──closed──▶ idle
///                       │                   │
///                       │                   └──closed soon after connecting──▶ backingOff
///                       └──failed──▶ backingOff ──deadline passed + acquire──▶ connecting
/// ```
///
/// A connection the broker closes soon after it was established counts as a failed connect for the
/// backoff (as librdkafka's reconnect backoff does): a broker that accepts and then drops every request
/// (a half-broken coordinator, a hostile peer) is dialled with growing pauses instead of in a tight loop.
struct ConnectionSlotStateMachine<Connection: AnyObject, Pending: Equatable> {
    enum State {
        case idle
        case connecting(Pending)
        case connected(Connection)
        case backingOff(until: NIODeadline, lastError: KafkaError)
        case shutDown
    }

    enum AcquireAction {
        /// Use this open connection.
        case use(Connection)
        /// Dial now and report the outcome with ``connectSucceeded(_:)`` / ``connectFailed(_:now:using:)``;
        /// complete `Pending` for the waiters.
        case connect(Pending)
        /// Another caller is dialling; wait for its outcome.
        case wait(Pending)
        /// The last attempt failed; try again after this instant.
        case retryAfter(NIODeadline, lastError: KafkaError)
        case fail(KafkaError)
    }

    private(set) var state: State = .idle
    private(set) var backoff: ReconnectBackoff
    /// Backoff for connections that close soon after connecting; reset by one that lives long enough.
    private(set) var quickCloseBackoff: ReconnectBackoff
    /// When the current connection was established (nil when the caller gave no time).
    private var connectedAt: NIODeadline?
    /// A connection closed sooner than this after connecting makes the next dial wait.
    static var quickCloseThreshold: TimeAmount { .seconds(1) }

    init(backoff: ReconnectBackoff) {
        self.backoff = backoff
        self.quickCloseBackoff = backoff
    }

    /// A caller wants a connection. `makePending` is called only when a new connect starts.
    mutating func acquire(now: NIODeadline, makePending: () -> Pending) -> AcquireAction {
        switch state {
        case .idle:
            let pending = makePending()
            state = .connecting(pending)
            return .connect(pending)
        case .connecting(let pending):
            return .wait(pending)
        case .connected(let connection):
            return .use(connection)
        case .backingOff(let until, let lastError):
            guard now >= until else { return .retryAfter(until, lastError: lastError) }
            let pending = makePending()
            state = .connecting(pending)
            return .connect(pending)
        case .shutDown:
            return .fail(KafkaError(.clientNotRunning, "the connection pool is shut down"))
        }
    }

    /// The dial started by ``acquire(now:makePending:)`` succeeded. Returns false when the slot was shut
    /// down meanwhile (the caller closes the connection).
    mutating func connectSucceeded(_ connection: Connection, for pending: Pending, now: NIODeadline? = nil) -> Bool {
        guard case .connecting(let current) = state, current == pending else { return false }
        backoff.reset()
        connectedAt = now
        state = .connected(connection)
        return true
    }

    /// The dial failed: back off. Returns the delay chosen.
    @discardableResult
    mutating func connectFailed(
        _ error: KafkaError, for pending: Pending, now: NIODeadline, using generator: inout some RandomNumberGenerator
    ) -> Duration {
        guard case .connecting(let current) = state, current == pending else { return .zero }
        let delay = backoff.nextDelay(using: &generator)
        state = .backingOff(until: now + TimeAmount(delay), lastError: error)
        return delay
    }

    /// `connection` closed; the next acquire dials again, after a backoff when it closed less than
    /// ``quickCloseThreshold`` after connecting (only when both instants are known). Returns the delay chosen.
    @discardableResult
    mutating func connectionClosed(
        _ connection: Connection, now: NIODeadline? = nil, reason: KafkaError? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        guard case .connected(let current) = state, current === connection else { return .zero }
        defer { connectedAt = nil }
        if let now, let connectedAt, now - connectedAt < Self.quickCloseThreshold {
            let delay = quickCloseBackoff.nextDelay(using: &generator)
            let error = reason ?? KafkaError(.connectionClosed, "the connection closed right after it was established", isRetriable: true)
            state = .backingOff(until: now + TimeAmount(delay), lastError: error)
            return delay
        }
        quickCloseBackoff.reset()
        state = .idle
        return .zero
    }

    /// `connection` closed; the next acquire dials again.
    mutating func connectionClosed(_ connection: Connection) {
        var generator = SystemRandomNumberGenerator()
        connectionClosed(connection, using: &generator)
    }

    /// Shuts the slot down and returns what the caller must close.
    mutating func shutDown() -> Connection? {
        defer { state = .shutDown }
        if case .connected(let connection) = state { return connection }
        return nil
    }
}
