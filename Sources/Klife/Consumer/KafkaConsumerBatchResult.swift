/// A handler's answer for a batch (Klife's `:commit`, `:retry`, `{action, handler_cooldown_ms: n}` and the
/// per-record list).
///
/// ```swift
/// return .commit                                  // the whole batch is processed
/// return .retry(cooldown: .seconds(1))            // deliver it again, after a pause
/// return .perRecord([10: .commit, 11: .retry])    // by record offset
/// return .committedInTransaction                  // processed; a transaction committed the offsets
/// ```
public struct KafkaConsumerBatchResult: Sendable, Hashable {
    /// What happens to a record.
    public enum Decision: Sendable, Hashable {
        /// Processed: its offset may be committed.
        case commit
        /// Deliver it again (its ``KafkaRecord/consumerAttempts`` grows by one), before any newer record.
        case retry
    }

    enum Decisions: Sendable, Hashable {
        case batch(Decision)
        case records([Int64: Decision])
    }

    let decisions: Decisions
    /// The batch's offsets were committed by the handler (in a transaction): record them without an
    /// OffsetCommit.
    let offsetsCommitted: Bool
    /// The pause before the partition's next handler call, instead of the topic's
    /// ``KafkaConsumerTopicOptions/handlerCooldown``, for this one cycle.
    public var cooldown: Duration?

    init(_ decisions: Decisions, cooldown: Duration?, offsetsCommitted: Bool = false) {
        self.decisions = decisions
        self.cooldown = cooldown
        self.offsetsCommitted = offsetsCommitted
    }

    /// The batch is processed: commit the offset after its last record.
    public static let commit = Self(.batch(.commit), cooldown: nil)
    /// Deliver the same batch again.
    public static let retry = Self(.batch(.retry), cooldown: nil)

    /// ``commit``, then pause the partition for `cooldown` before its next handler call.
    public static func commit(cooldown: Duration) -> Self { Self(.batch(.commit), cooldown: cooldown) }

    /// The batch is processed and its offsets were already committed, by
    /// ``KafkaTransaction/sendOffsets(_:groupMetadata:)`` in a transaction that committed (exactly once:
    /// consume, transform, produce). The consumer moves past the batch without an OffsetCommit of its own,
    /// which could otherwise race with, or overwrite, the transactional commit.
    ///
    /// Answer this only after `withTransaction` returned; if it threw, throw (or answer ``retry``) so the
    /// batch is delivered again.
    public static let committedInTransaction = Self(.batch(.commit), cooldown: nil, offsetsCommitted: true)

    /// ``committedInTransaction``, then pause the partition for `cooldown` before its next handler call.
    public static func committedInTransaction(cooldown: Duration) -> Self {
        Self(.batch(.commit), cooldown: cooldown, offsetsCommitted: true)
    }

    /// ``retry``, after a pause of `cooldown`.
    public static func retry(cooldown: Duration) -> Self { Self(.batch(.retry), cooldown: cooldown) }

    /// A decision per record, keyed by record offset. Records the dictionary leaves out are retried, so a
    /// forgotten record is never lost. The retried records come back as one batch before anything newer;
    /// the committed offset stops before the first retried record until it is committed too, so a crash
    /// can deliver committed records after it again (at least once).
    public static func perRecord(_ decisions: [Int64: Decision], cooldown: Duration? = nil) -> Self {
        Self(.records(decisions), cooldown: cooldown)
    }
}
