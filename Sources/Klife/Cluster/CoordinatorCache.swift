/// Which broker coordinates each consumer group and transactional id (FindCoordinator results).
///
/// Entries are dropped when a request to the coordinator fails with NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE
/// or a transport error, and when the broker leaves the cluster.
struct CoordinatorCache: Sendable {
    /// FindCoordinator `key_type`.
    enum KeyType: Int8, Sendable, Hashable {
        case group = 0
        case transaction = 1
    }

    struct Key: Hashable, Sendable, CustomStringConvertible {
        var type: KeyType
        var key: String
        var description: String { "\(type == .group ? "group" : "transactional id") \(key)" }
    }

    private var coordinators: [Key: Int32] = [:]

    /// Kafka error codes meaning the cached coordinator is wrong or not ready (COORDINATOR_LOAD_IN_PROGRESS,
    /// COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR).
    static let coordinatorErrorCodes: Set<Int16> = [14, 15, 16]

    /// The first FindCoordinator version that looks up several keys in one request (`coordinator_keys`).
    static let firstBatchedVersion: Int16 = 4

    func coordinator(for key: Key) -> Int32? { coordinators[key] }

    mutating func store(_ nodeID: Int32, for key: Key) { coordinators[key] = nodeID }

    mutating func invalidate(_ key: Key) { coordinators[key] = nil }

    /// Drops every entry pointing at `nodeID` (the broker left, or its connection failed).
    mutating func invalidate(broker nodeID: Int32) {
        coordinators = coordinators.filter { $0.value != nodeID }
    }

    /// Drops `key` when `errorCode` means its coordinator moved; returns whether it did.
    @discardableResult
    mutating func handle(errorCode: Int16, for key: Key) -> Bool {
        guard Self.coordinatorErrorCodes.contains(errorCode) else { return false }
        invalidate(key)
        return true
    }

    /// The keys among `keys` without a cached coordinator, grouped into FindCoordinator requests: one request
    /// per key type when the negotiated version batches (v4+), else one request per key.
    func lookupsNeeded(for keys: [Key], version: Int16) -> [[Key]] {
        var seen = Set<Key>()
        let missing = keys.filter { coordinators[$0] == nil && seen.insert($0).inserted }
        if version >= Self.firstBatchedVersion {
            return [KeyType.group, .transaction].compactMap { type in
                let batch = missing.filter { $0.type == type }
                return batch.isEmpty ? nil : batch
            }
        }
        return missing.map { [$0] }
    }

    var count: Int { coordinators.count }
}
