/// Kafka's `cooperative-sticky` assignor (KIP-429): a balanced assignment that keeps every member's owned
/// partitions where the balance allows, and withholds a partition that moves from one member to another
/// for one rebalance, so its old owner revokes it before the new owner starts (the owner rejoins after
/// revoking, and the next rebalance hands the partition over).
///
/// Balance: each member ends with ⌊P/M⌋ or ⌈P/M⌉ partitions when all members subscribe to the same topics;
/// with different subscriptions, free partitions go to the eligible member with the fewest.
struct CooperativeStickyAssignor: ConsumerGroupAssignor {
    var name: String { "cooperative-sticky" }
    var isCooperative: Bool { true }

    func assign(members: [ConsumerGroupMember], partitionCounts: [String: Int32]) -> [String: ConsumerGroupAssignment] {
        let sorted = members.sorted { $0.sortKey < $1.sortKey }
        guard !sorted.isEmpty else { return [:] }
        let all = Set(members.flatMap(\.topics)).sorted().flatMap { Self.partitions(of: $0, partitionCounts) ?? [] }
        let exists = Set(all)

        // The valid previous owner of each partition: the member that claims it in the highest generation.
        var previousOwner: [KafkaTopicPartition: (member: String, generation: Int32)] = [:]
        for member in sorted {
            for p in member.ownedPartitions where exists.contains(p) && member.topics.contains(p.topic) {
                if let current = previousOwner[p], current.generation >= member.generation { continue }
                previousOwner[p] = (member.memberID, member.generation)
            }
        }

        // Quotas: ⌊P/M⌋ for everyone, ⌈P/M⌉ for the first P % M members that reach it.
        let minQuota = all.count / sorted.count
        var maxQuotaSlots = all.count % sorted.count
        var assigned: [String: [KafkaTopicPartition]] = [:]
        var taken = Set<KafkaTopicPartition>()
        // Members owning the most keep the extra slots first, so the fewest partitions move.
        let byOwned = sorted.sorted { a, b in
            let ca = a.ownedPartitions.count, cb = b.ownedPartitions.count
            return ca != cb ? ca > cb : a.sortKey < b.sortKey
        }
        for member in byOwned {
            let kept = member.ownedPartitions.filter { previousOwner[$0]?.member == member.memberID }.sorted()
            var quota = minQuota
            if kept.count > minQuota && maxQuotaSlots > 0 {
                quota = minQuota + 1
                maxQuotaSlots -= 1
            }
            let keep = Array(kept.prefix(quota))
            assigned[member.memberID] = keep
            taken.formUnion(keep)
        }

        // Free partitions go to the eligible member with the fewest, respecting the quotas when possible.
        for p in all where !taken.contains(p) {
            let eligible = sorted.filter { $0.topics.contains(p.topic) }
            guard !eligible.isEmpty else { continue }
            let best = eligible.min { a, b in
                let ca = assigned[a.memberID]?.count ?? 0, cb = assigned[b.memberID]?.count ?? 0
                return ca != cb ? ca < cb : a.sortKey < b.sortKey
            }!
            assigned[best.memberID, default: []].append(p)
        }

        // Cooperative step: a partition assigned away from its previous owner is withheld this round.
        var result = Self.emptyResult(members)
        for member in sorted {
            let mine = (assigned[member.memberID] ?? []).filter { p in
                guard let owner = previousOwner[p] else { return true }
                return owner.member == member.memberID
            }
            result[member.memberID] = ConsumerGroupAssignment(mine.sorted())
        }
        return result
    }
}
