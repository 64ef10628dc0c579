/// Which records a fetch may return from partitions written by transactional producers.
public enum KafkaIsolationLevel: Sendable, Hashable, CustomStringConvertible {
    /// Only records up to the last stable offset, without records of aborted transactions (Kafka's
    /// `read_committed`; the default everywhere in Klife).
    case readCommitted
    /// Every record up to the high watermark, including records of open and aborted transactions
    /// (Kafka's `read_uncommitted`).
    case readUncommitted

    /// The `IsolationLevel` value of a Fetch or ListOffsets request.
    var wireValue: Int8 {
        switch self {
        case .readUncommitted: return 0
        case .readCommitted: return 1
        }
    }

    public var description: String {
        switch self {
        case .readCommitted: return "read_committed"
        case .readUncommitted: return "read_uncommitted"
        }
    }
}
