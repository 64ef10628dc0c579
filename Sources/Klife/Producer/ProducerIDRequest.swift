/// The InitProducerId an idempotent producer needs next.
enum ProducerIDRequest: Equatable, Sendable {
    /// A new producer id: at start, after the epoch of the current one ran out, or when a bump was refused.
    case fresh
    /// KIP-360: the broker bumps the epoch of our current producer id (InitProducerId v3+ carrying the
    /// current id and epoch). Brokers may answer with a new producer id instead; either is a new identity.
    case bump(id: Int64, epoch: Int16)

    /// The producer id and epoch to put in the request (-1, -1 for a fresh one).
    var current: (id: Int64, epoch: Int16) {
        switch self {
        case .fresh: return (-1, -1)
        case .bump(let id, let epoch): return (id, epoch)
        }
    }
}
