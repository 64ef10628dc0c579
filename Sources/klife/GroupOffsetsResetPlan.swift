import Klife

/// The offsets `klife groups reset-offsets` sets: from a target (`--to`) or a shift of the committed offset
/// (`--shift-by`), kept inside each partition's log, as kafka-consumer-groups.sh does.
struct GroupOffsetsResetPlan: Equatable {
    /// What a partition's new offset is.
    enum Target: Equatable {
        /// The offsets `--to` names (already looked up per partition).
        case offsets([Int32: Int64])
        /// The committed offset moved by N (negative: back).
        case shift(Int64)
    }

    /// One partition's change: `committed` nil when the group had no offset there.
    struct Change: Equatable {
        var partition: Int32
        var committed: Int64?
        var new: Int64
    }

    var changes: [Change]
    /// Partitions left alone: a shift of a partition the group has no committed offset for.
    var skipped: [Int32]

    /// - Parameters:
    ///   - committed: the group's committed offsets of the topic's partitions.
    ///   - earliest / latest: each partition's log start and end.
    init(partitions: [Int32], target: Target, committed: [Int32: Int64], earliest: [Int32: Int64], latest: [Int32: Int64]) {
        var changes: [Change] = []
        var skipped: [Int32] = []
        for partition in partitions.sorted() {
            let wanted: Int64
            switch target {
            case .offsets(let offsets):
                wanted = offsets[partition] ?? 0
            case .shift(let by):
                guard let current = committed[partition] else {
                    skipped.append(partition)
                    continue
                }
                let (sum, overflow) = current.addingReportingOverflow(by)
                wanted = overflow ? (by < 0 ? 0 : Int64.max) : sum
            }
            let low = max(0, earliest[partition] ?? 0)
            let high = max(low, latest[partition] ?? Int64.max)
            changes.append(Change(partition: partition, committed: committed[partition], new: min(max(wanted, low), high)))
        }
        self.changes = changes
        self.skipped = skipped
    }
}
