import DequeModule

/// Which members of a transactional pool are free, and who waits for one (first come, first served).
///
/// A transaction checks a member out for its whole duration; when every member is busy the caller waits
/// rather than fails (Klife's NimblePool, without its checkout timeout: the caller's task cancellation ends
/// the wait).
struct TransactionalPoolStateMachine: Sendable {
    enum CheckoutAction: Equatable, Sendable {
        /// Use member `index` now.
        case use(Int)
        /// Wait until ``checkin(_:)`` hands a member to this waiter.
        case wait
        /// The pool has shut down.
        case fail
    }

    enum CheckinAction: Equatable, Sendable {
        /// Hand member `index` to the waiter with this id.
        case resume(waiterID: Int, index: Int)
        case none
    }

    let size: Int
    /// Free members, lowest index first (members used recently stay warm: initialised, coordinator known).
    private var idle: [Int]
    private var waiters: Deque<Int> = []
    private(set) var isClosed = false

    init(size: Int) {
        self.size = size
        self.idle = Array(0..<size)
    }

    var idleCount: Int { idle.count }
    /// Whether no member is checked out: no transaction is open (the condition a graceful shutdown waits for).
    var isDrained: Bool { idle.count == size }
    var waiterCount: Int { waiters.count }

    /// A member for waiter `waiterID`, or an instruction to wait.
    mutating func checkout(waiterID: Int) -> CheckoutAction {
        if isClosed { return .fail }
        if waiters.isEmpty, !idle.isEmpty { return .use(idle.removeFirst()) }
        waiters.append(waiterID)
        return .wait
    }

    /// Takes member `index` if it is free (background initialisation); never waits.
    mutating func checkoutIfIdle(_ index: Int) -> Bool {
        guard !isClosed, let position = idle.firstIndex(of: index) else { return false }
        idle.remove(at: position)
        return true
    }

    /// Returns member `index`; the oldest waiter gets it.
    mutating func checkin(_ index: Int) -> CheckinAction {
        if let waiter = waiters.popFirst() { return .resume(waiterID: waiter, index: index) }
        let position = idle.firstIndex { $0 > index } ?? idle.endIndex
        idle.insert(index, at: position)
        return .none
    }

    /// A waiter gave up (its task was cancelled); returns whether it was still waiting.
    mutating func cancel(waiterID: Int) -> Bool {
        guard let position = waiters.firstIndex(of: waiterID) else { return false }
        waiters.remove(at: position)
        return true
    }

    /// Shuts the pool: returns the waiters to fail.
    mutating func close() -> [Int] {
        isClosed = true
        defer { waiters.removeAll() }
        return Array(waiters)
    }
}
