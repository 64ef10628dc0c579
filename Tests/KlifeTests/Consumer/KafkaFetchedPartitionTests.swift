import Testing
@testable import Klife

@Suite struct KafkaFetchedPartitionTests {
    @Test("lag counts from the next offset to the high watermark, or to the last stable offset when read committed")
    func lagCountsToTheEndTheFetchCanReach() {
        var partition = KafkaFetchedPartition(records: [], nextOffset: 10, highWatermark: 15, lastStableOffset: 12)
        #expect(partition.lag == 5)
        partition.readCommitted = true
        #expect(partition.lag == 2)
        // A broker that did not report the last stable offset (Fetch before v4): the high watermark.
        partition.lastStableOffset = -1
        #expect(partition.lag == 5)
    }

    @Test("lag is 0 when the end is not known or already passed")
    func lagIsZeroWithoutAKnownEnd() {
        #expect(KafkaFetchedPartition(records: [], nextOffset: 10).lag == 0)
        #expect(KafkaFetchedPartition(records: [], nextOffset: 10).highWatermark == -1)
        #expect(KafkaFetchedPartition(records: [], nextOffset: 20, highWatermark: 15).lag == 0)
    }
}
