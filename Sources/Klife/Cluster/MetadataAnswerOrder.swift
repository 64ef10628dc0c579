/// Which Metadata answers may be applied: requests are numbered as they start, and an answer is applied only
/// when no answer to a later-started request was applied before it. Answers can arrive out of order because
/// the periodic refresh and on-demand lookups run side by side, and a lagging broker's answer to an older
/// request would otherwise undo a newer one (dropping brokers and their connections, or topics).
struct MetadataAnswerOrder {
    private var started = 0
    private var lastApplied = 0

    /// The number of a request about to be sent.
    mutating func requestStarted() -> Int {
        started += 1
        return started
    }

    /// Whether the answer to request `sequence` may be applied; if so, it counts as the latest applied.
    mutating func admits(answerTo sequence: Int) -> Bool {
        guard sequence > lastApplied else { return false }
        lastApplied = sequence
        return true
    }
}
