/// Which Metadata answers may be applied. Requests are numbered as they start. The periodic refresh runs one
/// request at a time and its answers are always applied (its waiters count on them); an on-demand lookup
/// (``ClusterManager/describe(topics:)``), which runs beside it, is applied only when no refresh that started
/// after it has been applied: a lagging broker's answer to an older lookup would otherwise undo a newer
/// refresh (dropping brokers and their connections, or topics).
struct MetadataAnswerOrder {
    private var started = 0
    private var lastRefreshApplied = 0

    /// The number of a request about to be sent.
    mutating func requestStarted() -> Int {
        started += 1
        return started
    }

    /// Whether the answer to request `sequence` may be applied (a refresh's always is).
    mutating func admits(answerTo sequence: Int, isRefresh: Bool) -> Bool {
        if isRefresh {
            lastRefreshApplied = max(lastRefreshApplied, sequence)
            return true
        }
        return sequence > lastRefreshApplied
    }
}
