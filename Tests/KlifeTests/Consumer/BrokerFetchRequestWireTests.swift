import KafkaProtocol
import NIOCore
import Testing
@testable import Klife

@Suite struct BrokerFetchRequestWireTests {
    static let id = KafkaUUID(high: 0xAB, low: 0xCD)
    static let request = BrokerFetchRequest(
        id: 0, brokerID: 1, isolationLevel: .readCommitted, maxWaitMs: 250, minBytes: 1, maxBytes: 5_000_000,
        topics: [.init(name: "t", topicID: id, partitions: [
            .init(partition: 0, fetchOffset: 10, partitionMaxBytes: 100_000, currentLeaderEpoch: 3),
            .init(partition: 2, fetchOffset: 20, partitionMaxBytes: 100_000, currentLeaderEpoch: 3),
        ])])

    @Test func namesBeforeVersion13IdsFrom13() throws {
        let v12 = Self.request.wireRequest(version: 12)
        #expect(v12.topics[0].topic == "t" && v12.topics[0].topicId == .zero)
        let v13 = Self.request.wireRequest(version: 13)
        #expect(v13.topics[0].topic == "" && v13.topics[0].topicId == Self.id)
        #expect(Self.request.wireRequest(version: 13).maxWaitMs == 250)
        var noWait = Self.request
        noWait.maxWaitMs = 0
        #expect(noWait.wireRequest(version: 13).maxWaitMs == BrokerFetchRequest.minimumMaxWaitMs)
        #expect(v13.isolationLevel == 1 && v13.maxWaitMs == 250 && v13.minBytes == 1 && v13.maxBytes == 5_000_000)
        #expect(v13.topics[0].partitions.map(\.fetchOffset) == [10, 20])
        #expect(v13.topics[0].partitions.map(\.partitionMaxBytes) == [100_000, 100_000])
        #expect(v13.topics[0].partitions.allSatisfy { $0.currentLeaderEpoch == 3 })
        // Both encode at their version.
        for version: Int16 in [4, 12, 13, 17] {
            var buffer = ByteBuffer()
            try Self.request.wireRequest(version: version).encode(into: &buffer, version: version)
            #expect(buffer.readableBytes > 0)
        }
    }

    @Test func theClientsRackGoesOutFromVersion11() throws {
        let request = Self.request.wireRequest(version: 11, rackID: "use1-az2")
        #expect(request.rackId == "use1-az2")
        #expect(Self.request.wireRequest(version: 11).rackId == "")
        var v11 = ByteBuffer()
        try request.encode(into: &v11, version: 11)
        var v10 = ByteBuffer()
        try request.encode(into: &v10, version: 10)
        // The rack is the last field of v11: its string (2-byte length and 8 bytes) is what v10 lacks.
        #expect(v11.readableBytes == v10.readableBytes + 2 + 8)
        #expect(v11.getBytes(at: v11.writerIndex - 10, length: 10) == [0, 8] + Array("use1-az2".utf8))
    }

    @Test func leaderEpochsGoOutFromTheVersionsThatCarryThem() throws {
        var request = Self.request
        request.topics[0].partitions[0].epochOfPosition = 7
        func epochs(_ version: Int16) -> [[Int32]] {
            request.wireRequest(version: version).topics[0].partitions.map { [$0.currentLeaderEpoch, $0.lastFetchedEpoch] }
        }
        #expect(epochs(8) == [[-1, -1], [-1, -1]])
        #expect(epochs(9) == [[3, -1], [3, -1]])
        #expect(epochs(11) == [[3, -1], [3, -1]])
        #expect(epochs(12) == [[3, 7], [3, -1]])
        #expect(epochs(17) == [[3, 7], [3, -1]])
        // A negative epoch given by a caller means no check, and still maps back to the caller's position.
        request.topics[0].partitions[1].epochOfPosition = -5
        #expect(epochs(12) == [[3, 7], [3, -1]])
        for version: Int16 in [8, 9, 12, 17] {
            var buffer = ByteBuffer()
            try request.wireRequest(version: version).encode(into: &buffer, version: version)
            #expect(buffer.readableBytes > 0)
        }
        let answer = FetchResponse(responses: [.init(topic: "t", partitions: [.init(partitionIndex: 0), .init(partitionIndex: 2)])])
        #expect(request.matchResponse(answer, version: 12).map(\.0) == [
            KafkaFetchPosition(topic: "t", partition: 0, offset: 10, lastFetchedEpoch: 7),
            KafkaFetchPosition(topic: "t", partition: 2, offset: 20, lastFetchedEpoch: -5),
        ])
    }

    @Test func aDivergenceIsReadOnlyForAPositionSentWithAnEpoch() {
        let withEpoch = KafkaFetchPosition(topic: "t", partition: 0, offset: 10, lastFetchedEpoch: 5)
        let parted = FetchResponse.EpochEndOffset(epoch: 4, endOffset: 6)
        #expect(FetchExecutor.divergence(parted, at: withEpoch) == KafkaLogDivergence(epoch: 4, endOffset: 6))
        // The field's default (-1, -1) is no divergence; nor is anything said about a position sent without epoch.
        #expect(FetchExecutor.divergence(FetchResponse.EpochEndOffset(), at: withEpoch) == nil)
        #expect(FetchExecutor.divergence(parted, at: KafkaFetchPosition(topic: "t", partition: 0, offset: 10)) == nil)
    }

    @Test func topicWithoutIDCapsTheVersionAt12() {
        var noID = Self.request
        noID.topics[0].topicID = .zero
        #expect(noID.usableVersion(negotiated: 17) == 12)
        #expect(Self.request.usableVersion(negotiated: 17) == 17)
        #expect(Self.request.usableVersion(negotiated: 11) == 11)
    }

    @Test func responsePartitionsMapBackByIdOrName() {
        let byID = FetchResponse(responses: [
            .init(topicId: Self.id, partitions: [.init(partitionIndex: 2, errorCode: 6), .init(partitionIndex: 7)]),
            .init(topicId: KafkaUUID(high: 9, low: 9), partitions: [.init(partitionIndex: 0)]),
        ])
        let matched = Self.request.matchResponse(byID, version: 13)
        #expect(matched.map(\.0) == [KafkaFetchPosition(topic: "t", partition: 2, offset: 20)])
        #expect(matched.first?.1.errorCode == 6)
        let byName = FetchResponse(responses: [.init(topic: "t", partitions: [.init(partitionIndex: 0)])])
        #expect(Self.request.matchResponse(byName, version: 12).map(\.0) == [KafkaFetchPosition(topic: "t", partition: 0, offset: 10)])
    }
}
