/// Kafka's `roundrobin` assignor: all partitions of all subscribed topics, sorted, dealt one by one to the
/// sorted members, skipping members not subscribed to the partition's topic.
struct RoundRobinAssignor: ConsumerGroupAssignor {
    var name: String { "roundrobin" }
    var isCooperative: Bool { false }

    func assign(members: [ConsumerGroupMember], partitionCounts: [String: Int32]) -> [String: ConsumerGroupAssignment] {
        var result = Self.emptyResult(members)
        let sorted = members.sorted { $0.sortKey < $1.sortKey }
        guard !sorted.isEmpty else { return result }
        let topics = Set(members.flatMap(\.topics)).sorted()
        var next = 0
        for topic in topics {
            guard let partitions = Self.partitions(of: topic, partitionCounts) else { continue }
            for partition in partitions {
                // Find the next member (cyclically) subscribed to this topic.
                for step in 0..<sorted.count {
                    let member = sorted[(next + step) % sorted.count]
                    if member.topics.contains(topic) {
                        result[member.memberID, default: .init()].partitions.append(partition)
                        next = (next + step + 1) % sorted.count
                        break
                    }
                }
            }
        }
        return result
    }
}
