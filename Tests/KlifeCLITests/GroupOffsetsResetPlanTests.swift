import Testing

@testable import klife

@Suite struct GroupOffsetsResetPlanTests {
    private let earliest: [Int32: Int64] = [0: 10, 1: 0, 2: 0]
    private let latest: [Int32: Int64] = [0: 50, 1: 20, 2: 0]

    @Test func targetsAreKeptInsideTheLog() {
        let plan = GroupOffsetsResetPlan(
            partitions: [2, 0, 1], target: .offsets([0: 5, 1: 30, 2: 0]), committed: [0: 40], earliest: earliest, latest: latest)
        #expect(plan.changes == [
            .init(partition: 0, committed: 40, new: 10),   // before the log start
            .init(partition: 1, committed: nil, new: 20),  // past the end
            .init(partition: 2, committed: nil, new: 0),
        ])
        #expect(plan.skipped.isEmpty)
    }

    @Test func aShiftMovesTheCommittedOffsetAndSkipsPartitionsWithout() {
        let back = GroupOffsetsResetPlan(partitions: [0, 1, 2], target: .shift(-35), committed: [0: 40, 1: 15], earliest: earliest, latest: latest)
        #expect(back.changes == [.init(partition: 0, committed: 40, new: 10), .init(partition: 1, committed: 15, new: 0)])
        #expect(back.skipped == [2])
        let forward = GroupOffsetsResetPlan(partitions: [0], target: .shift(Int64.max), committed: [0: 40], earliest: earliest, latest: latest)
        #expect(forward.changes == [.init(partition: 0, committed: 40, new: 50)])
    }
}
