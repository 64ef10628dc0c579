import Testing
@testable import Klife

@Suite struct PendingPartitionStartsTests {
    typealias TP = KafkaTopicPartition
    static let p = (0..<3).map { TP("t", Int32($0)) }

    /// What `finish` started.
    static func finish(_ starts: PendingPartitionStarts, _ token: Int, _ offsets: [TP: Int64]?) -> [TP: Int64] {
        var started: [TP: Int64] = [:]
        starts.finish(token, offsets: offsets) { started = $0 }
        return started
    }

    @Test func aFinishedStartStartsItsPartitions() {
        let starts = PendingPartitionStarts()
        let token = starts.begin([Self.p[0], Self.p[1]])
        #expect(Self.finish(starts, token, [Self.p[0]: 5, Self.p[1]: 7]) == [Self.p[0]: 5, Self.p[1]: 7])
        // Once finished, nothing is pending for it.
        #expect(Self.finish(starts, token, [Self.p[0]: 5]) == [:])
    }

    @Test func aPartitionRevokedBeforeItsLookupEndedIsNotStarted() {
        let starts = PendingPartitionStarts()
        let token = starts.begin([Self.p[0], Self.p[1]])
        starts.cancel([Self.p[1]])
        #expect(Self.finish(starts, token, [Self.p[0]: 5, Self.p[1]: 7]) == [Self.p[0]: 5])
    }

    @Test func anOlderStartDoesNotStartAPartitionAssignedAgain() {
        let starts = PendingPartitionStarts()
        let old = starts.begin([Self.p[0]])
        starts.cancel([Self.p[0]])
        let new = starts.begin([Self.p[0]])
        #expect(Self.finish(starts, old, [Self.p[0]: 1]) == [:])
        #expect(Self.finish(starts, new, [Self.p[0]: 9]) == [Self.p[0]: 9])
    }

    @Test func aStoppedLookupOrAStoppingMemberStartsNothing() {
        let starts = PendingPartitionStarts()
        let first = starts.begin([Self.p[0]])
        #expect(Self.finish(starts, first, nil) == [:])
        let second = starts.begin([Self.p[1], Self.p[2]])
        starts.cancelAll()
        #expect(Self.finish(starts, second, [Self.p[1]: 1, Self.p[2]: 2]) == [:])
    }
}
