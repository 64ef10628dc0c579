import Foundation
import KafkaProtocol
import Klife
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// KIP-360 against the librdkafka mock cluster: after OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID
/// the idempotent producer gets a new identity (bumped epoch or new id) *from the broker* and re-sends; every acknowledged record is in
/// the log exactly once and in order.
@Suite("Producer epoch bumps against the librdkafka mock cluster", .serialized)
struct ProducerEpochBumpTests {
    private static let group = MultiThreadedEventLoopGroup.singleton

    private static func connect(_ address: String) async throws -> KafkaConnection {
        let address = try KafkaConnectionConfiguration.BrokerAddress.parseList(address)[0]
        let configuration = KafkaConnectionConfiguration(bootstrapServers: [address], connectTimeout: .seconds(10))
        return try await KafkaConnection.connect(
            to: address, configuration: configuration, eventLoopGroup: group, logger: Logger(label: "epoch-bump-test"))
    }

    /// Producer id and epoch of every record batch in the partition, read with a raw Fetch from its leader.
    private static func batchIdentities(
        _ cluster: MockCluster, broker: Int32, topic: String, partition: Int32
    ) async throws -> [(producerID: Int64, epoch: Int16, records: Int32)] {
        let connection = try await connect(cluster.brokerAddresses[Int(broker) - 1])
        defer { Task { await connection.close() } }
        var identities: [(Int64, Int16, Int32)] = []
        var offset: Int64 = 0
        while true {
            var fetch = FetchRequest(maxWaitMs: 100, minBytes: 1, maxBytes: 4 << 20)
            fetch.topics = [.init(topic: topic, partitions: [.init(partition: partition, fetchOffset: offset, partitionMaxBytes: 4 << 20)])]
            let response = try await connection.send(fetch, version: 12)
            let data = try #require(response.responses.first?.partitions.first)
            #expect(data.errorCode == 0)
            guard let records = data.records, records.readableBytes > 0 else { break }
            var reader = RecordBatchReader(records: records)
            var progressed = false
            while let batch = try reader.next() {
                identities.append((batch.producerId, batch.producerEpoch, batch.recordCount))
                offset = batch.baseOffset + Int64(batch.lastOffsetDelta) + 1
                progressed = true
            }
            if !progressed || offset >= data.highWatermark { break }
        }
        return identities
    }

    @Test func outOfOrderAndUnknownProducerIDAreRecoveredWithABrokerGrantedIdentity() async throws {
        let cluster = try await MockCluster.create(brokers: 3)
        let topic = TestBrokers.uniqueName("bump")
        try await cluster.createTopic(topic, partitions: 2)
        try await cluster.setLeader(topic: topic, partition: 0, broker: 1)
        try await cluster.setLeader(topic: topic, partition: 1, broker: 2)
        let producer = KafkaProducerConfiguration(
            name: KafkaProducerConfiguration.defaultName, retryBackoff: .milliseconds(20), enableIdempotence: true)
        let rounds = 4
        let perRound = 200
        let acknowledgedBox = Mutex<[Int32: [Int]]>([0: [], 1: []])
        try await KafkaClient.withRunningClient(configuration: try ProducerMockClusterTests.configuration(cluster, producer)) { client in
            for round in 0..<rounds {
                switch round {
                case 1:  // partition 0's leader rejects the next Produce: the broker lost our sequence
                    try await cluster.pushBrokerErrors(broker: 1, apiKey: 0, errors: [(ProducerCodes.outOfOrder, 0)])
                case 2:  // partition 1's leader forgot our producer id
                    try await cluster.pushBrokerErrors(broker: 2, apiKey: 0, errors: [(ProducerCodes.unknownProducerID, 0)])
                case 3:  // both at once
                    try await cluster.pushBrokerErrors(broker: 1, apiKey: 0, errors: [(ProducerCodes.unknownProducerID, 0)])
                    try await cluster.pushBrokerErrors(broker: 2, apiKey: 0, errors: [(ProducerCodes.outOfOrder, 0)])
                default:
                    break
                }
                // One call per round: every record is buffered before the first request, so each partition
                // has one request in flight (the mock does not check sequences, so a pipelined batch
                // behind a rejected one would be appended where a real broker rejects it).
                let values = (round * perRound..<(round + 1) * perRound)
                let results = await client.produceBatch(values.map {
                    KafkaRecord(topic: topic, partition: Int32($0 % 2), value: ByteBuffer(string: "\($0)"))
                })
                for (value, result) in zip(values, results) {
                    if case .failure(let error) = result {
                        Issue.record("record \(value) failed: \(error)")
                    } else {
                        acknowledgedBox.withLock { $0[Int32(value % 2)]!.append(value) }
                    }
                }
            }
        }
        let acknowledged = acknowledgedBox.withLock { $0 }
        let total = rounds * perRound
        #expect(acknowledged.values.map(\.count).reduce(0, +) == total)

        // Every acknowledged record is in the log exactly once, in order, as librdkafka reads it.
        let consumed = try await RdKafkaTool.consume(bootstrap: cluster.bootstrap, topic: topic, count: total, timeoutMilliseconds: 30_000)
        #expect(consumed.count == total)
        for partition in Int32(0)..<2 {
            let values = consumed.filter { $0.partition == partition }.sorted { $0.offset < $1.offset }.compactMap { $0.valueString.flatMap(Int.init) }
            #expect(values == acknowledged[partition]!, "partition \(partition): the log holds exactly the acknowledged records, in order")
        }

        // Each recovery moved the partition to a new producer identity, and every identity in the log was
        // handed out by the broker. This mock refuses KIP-360 bumps of non-transactional producer ids
        // (INVALID_PRODUCER_ID_MAPPING), so the producer falls back to a fresh id: every granted identity is
        // a new id at epoch 0, and a locally bumped epoch would show up here as an epoch above 0.
        let connection = try await Self.connect(cluster.brokerAddresses[0])
        for (partition, broker) in [(Int32(0), Int32(1)), (1, 2)] {
            let identities = try await Self.batchIdentities(cluster, broker: broker, topic: topic, partition: partition)
            #expect(identities.map(\.records).reduce(0, +) == Int32(total / 2))
            let ids = identities.map(\.producerID)
            #expect(identities.allSatisfy { $0.epoch == 0 }, "partition \(partition): only broker-granted epochs: \(identities.map(\.epoch))")
            var distinct: [Int64] = []
            for id in ids where distinct.last != id { distinct.append(id) }
            #expect(distinct.count >= 3 && Set(distinct).count == distinct.count,
                    "partition \(partition): a new identity after each of the two recoveries, never an old one again: \(distinct)")
            for id in Set(ids) {
                let known = try await connection.send(InitProducerIdRequest(
                    transactionalId: nil, transactionTimeoutMs: 60_000, producerId: id, producerEpoch: 0))
                #expect(known.errorCode == 49, "producer id \(id) was issued by the broker (59 would mean unknown)")
            }
        }
        // The check can tell: an id the broker never issued is unknown to it.
        let unknown = try await connection.send(InitProducerIdRequest(
            transactionalId: nil, transactionTimeoutMs: 60_000, producerId: 987_654_321, producerEpoch: 0))
        #expect(unknown.errorCode == 59)
        await connection.close()
        try await cluster.destroy()
    }
}

private enum ProducerCodes {
    static let outOfOrder: Int16 = 45
    static let unknownProducerID: Int16 = 59
}
