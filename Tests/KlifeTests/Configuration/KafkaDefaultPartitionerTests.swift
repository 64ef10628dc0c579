import Klife
import NIOCore
import Testing

@Suite struct KafkaDefaultPartitionerTests {
    /// Kafka's own murmur2 reference values (Apache Kafka `UtilsTest.testMurmur2`), turned into partitions.
    @Test(arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", Int32(-790_332_482)),
        ("a-little-bit-long-string", Int32(-985_981_536)),
        ("a-little-bit-longer-string", Int32(-1_486_304_829)),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", Int32(-58_897_971)),
        ("abc", Int32(479_470_107)),
    ])
    func keyedRecordsFollowMurmur2(key: String, hash: Int32) {
        let positive = Int32(bitPattern: UInt32(bitPattern: hash) & 0x7fff_ffff)
        for count: Int32 in [1, 3, 7, 100] {
            let partitioner = KafkaDefaultPartitioner()
            let record = KafkaRecord(topic: "t", key: key, value: "v")
            #expect(partitioner.partition(for: record, partitionCount: count) == positive % count)
            #expect(KafkaDefaultPartitioner.partition(forKey: ByteBuffer(string: key), partitionCount: count) == positive % count)
        }
    }

    @Test func emptyKeyIsHashedNotTreatedAsKeyless() {
        // murmur2 of zero bytes = 275646681 (0x106AA8F9) in Kafka.
        let partition = KafkaDefaultPartitioner.partition(forKey: ByteBuffer(), partitionCount: 1000)
        #expect(partition == 275_646_681 % 1000)
    }

    @Test func keyHashingUsesReadableBytesOfASlice() {
        var buffer = ByteBuffer(string: "xxfoobar")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(
            KafkaDefaultPartitioner.partition(forKey: buffer, partitionCount: 97)
                == KafkaDefaultPartitioner.partition(forKey: ByteBuffer(string: "foobar"), partitionCount: 97))
    }

    @Test func stickyKeylessStaysUntilNewBatch() {
        let partitioner = KafkaDefaultPartitioner(keylessStrategy: .sticky)
        let record = KafkaRecord(topic: "t", value: "v")
        let first = partitioner.partition(for: record, partitionCount: 6)
        for _ in 0..<100 { #expect(partitioner.partition(for: record, partitionCount: 6) == first) }
        // A batch closing on another partition does not move the sticky one.
        partitioner.onNewBatch(topic: "t", previousPartition: (first + 1) % 6, partitionCount: 6)
        #expect(partitioner.partition(for: record, partitionCount: 6) == first)
        partitioner.onNewBatch(topic: "t", previousPartition: first, partitionCount: 6)
        let second = partitioner.partition(for: record, partitionCount: 6)
        #expect(second != first)
        #expect((0..<6).contains(second))
        // Topics are independent; a shrunk partition count is respected.
        #expect((0..<2).contains(partitioner.partition(for: KafkaRecord(topic: "u", value: "v"), partitionCount: 2)))
        #expect(partitioner.partition(for: record, partitionCount: 1) == 0)
    }

    @Test func randomKeylessSpreads() {
        let partitioner = KafkaDefaultPartitioner(keylessStrategy: .random)
        let record = KafkaRecord(topic: "t", value: "v")
        var seen = Set<Int32>()
        for _ in 0..<500 { seen.insert(partitioner.partition(for: record, partitionCount: 4)) }
        #expect(seen == [0, 1, 2, 3])
    }

    @Test func stickySpreadsAcrossBatches() {
        let partitioner = KafkaDefaultPartitioner()
        let record = KafkaRecord(topic: "t", value: "v")
        var seen = Set<Int32>()
        for _ in 0..<500 {
            let p = partitioner.partition(for: record, partitionCount: 4)
            seen.insert(p)
            partitioner.onNewBatch(topic: "t", previousPartition: p, partitionCount: 4)
        }
        #expect(seen == [0, 1, 2, 3])
    }
}
