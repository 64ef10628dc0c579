/// Kafka's `range` assignor: per topic, the members subscribed to it (sorted) get consecutive ranges of
/// partitions; the first `partitions % members` get one extra.
struct RangeAssignor: ConsumerGroupAssignor {
    var name: String { "range" }
    var isCooperative: Bool { false }

    func assign(members: [ConsumerGroupMember], partitionCounts: [String: Int32]) -> [String: ConsumerGroupAssignment] {
        var result = Self.emptyResult(members)
        let topics = Set(members.flatMap(\.topics)).sorted()
        for topic in topics {
            guard let partitions = Self.partitions(of: topic, partitionCounts) else { continue }
            let consumers = members.filter { $0.topics.contains(topic) }.sorted { $0.sortKey < $1.sortKey }
            guard !consumers.isEmpty else { continue }
            let perMember = partitions.count / consumers.count
            let extra = partitions.count % consumers.count
            for (i, member) in consumers.enumerated() {
                let start = i * perMember + min(i, extra)
                let length = perMember + (i < extra ? 1 : 0)
                result[member.memberID, default: .init()].partitions += partitions[start..<(start + length)]
            }
        }
        return result
    }
}
