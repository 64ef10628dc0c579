import Testing

/// The verdict of the interop tests where one klife member and one librdkafka member share a group.
enum GroupInteropCheck {
    /// `klifeValues` and `rdkafkaValues` are "partition:value" strings; klife's end markers (":end-") are
    /// ignored. Each member must have owned `partitionsEach` partitions of its own, and together they must
    /// have consumed `total` distinct records, each once.
    static func expectSplit(klifeValues: [String], rdkafkaValues: [String], partitionsEach: Int, total: Int,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        let klifeRecords = klifeValues.filter { !$0.contains(":end-") }
        let klifePartitions = Set(klifeRecords.map { $0.split(separator: ":")[0] })
        let rdkafkaPartitions = Set(rdkafkaValues.map { $0.split(separator: ":")[0] })
        #expect(klifePartitions.count == partitionsEach, "klife owned \(klifePartitions.sorted())", sourceLocation: sourceLocation)
        #expect(rdkafkaPartitions.count == partitionsEach, "librdkafka owned \(rdkafkaPartitions.sorted())", sourceLocation: sourceLocation)
        #expect(klifePartitions.isDisjoint(with: rdkafkaPartitions), sourceLocation: sourceLocation)
        let all = klifeRecords + rdkafkaValues
        #expect(all.count == total, "klife \(klifeRecords.count) + librdkafka \(rdkafkaValues.count)", sourceLocation: sourceLocation)
        #expect(Set(all).count == total, sourceLocation: sourceLocation)
    }
}
