import Testing
@testable import Klife

@Suite struct AbortedTransactionFilterTests {
    typealias Header = AbortedTransactionFilter.BatchHeader
    typealias Aborted = AbortedTransactionFilter.AbortedTransaction

    static func data(_ last: Int64, pid: Int64 = 7, txn: Bool = true) -> Header {
        Header(lastOffset: last, producerID: pid, isTransactional: txn, isControl: false, controlType: nil)
    }
    static func marker(_ offset: Int64, pid: Int64 = 7, abort: Bool) -> Header {
        Header(lastOffset: offset, producerID: pid, isTransactional: true, isControl: true, controlType: abort ? 0 : 1)
    }

    @Test func abortedTransactionIsRemovedUpToItsMarker() {
        // Producer 7: offsets 0-2 aborted (marker at 3), then 4-5 committed (marker at 6).
        var filter = AbortedTransactionFilter(
            isolationLevel: .readCommitted, abortedTransactions: [Aborted(producerID: 7, firstOffset: 0)])
        #expect(filter.disposition(of: Self.data(2)) == .aborted)
        #expect(filter.disposition(of: Self.marker(3, abort: true)) == .control)
        #expect(filter.disposition(of: Self.data(5)) == .deliver)
        #expect(filter.disposition(of: Self.marker(6, abort: false)) == .control)
    }

    @Test func interleavedProducersOnlyTheAbortedOneIsDropped() {
        // Producer 1 aborts (first offset 0, marker at 4); producer 2 commits, its batches interleave.
        var filter = AbortedTransactionFilter(
            isolationLevel: .readCommitted, abortedTransactions: [Aborted(producerID: 1, firstOffset: 0)])
        #expect(filter.disposition(of: Self.data(0, pid: 1)) == .aborted)
        #expect(filter.disposition(of: Self.data(1, pid: 2)) == .deliver)
        #expect(filter.disposition(of: Self.data(3, pid: 1)) == .aborted)
        #expect(filter.disposition(of: Self.marker(4, pid: 1, abort: true)) == .control)
        #expect(filter.disposition(of: Self.marker(5, pid: 2, abort: false)) == .control)
        // A later transaction of producer 1 that is not in the aborted list is delivered.
        #expect(filter.disposition(of: Self.data(7, pid: 1)) == .deliver)
    }

    @Test func secondAbortOfTheSameProducerOpensAgainAtItsFirstOffset() {
        var filter = AbortedTransactionFilter(
            isolationLevel: .readCommitted,
            abortedTransactions: [Aborted(producerID: 9, firstOffset: 10), Aborted(producerID: 9, firstOffset: 0)])
        #expect(filter.disposition(of: Self.data(1, pid: 9)) == .aborted)
        #expect(filter.disposition(of: Self.marker(2, pid: 9, abort: true)) == .control)
        #expect(filter.disposition(of: Self.data(5, pid: 9)) == .deliver)  // committed in between
        #expect(filter.disposition(of: Self.marker(6, pid: 9, abort: false)) == .control)
        #expect(filter.disposition(of: Self.data(12, pid: 9)) == .aborted)
        #expect(filter.disposition(of: Self.marker(13, pid: 9, abort: true)) == .control)
    }

    @Test func nonTransactionalBatchOfTheSameProducerIdIsKept() {
        var filter = AbortedTransactionFilter(
            isolationLevel: .readCommitted, abortedTransactions: [Aborted(producerID: 7, firstOffset: 0)])
        #expect(filter.disposition(of: Self.data(0, pid: 7, txn: false)) == .deliver)
    }

    @Test func abortedTransactionStartingInsideABatchCoversTheBatch() {
        // The batch spans offsets 0-9 and the aborted transaction starts at 5: the batch's last offset
        // reaches it, so the transactional batch is dropped.
        var filter = AbortedTransactionFilter(
            isolationLevel: .readCommitted, abortedTransactions: [Aborted(producerID: 7, firstOffset: 5)])
        #expect(filter.disposition(of: Self.data(4)) == .deliver)
        #expect(filter.disposition(of: Self.data(9)) == .aborted)
    }

    @Test func readUncommittedDeliversAbortedDataButNeverControlBatches() {
        var filter = AbortedTransactionFilter(
            isolationLevel: .readUncommitted, abortedTransactions: [Aborted(producerID: 7, firstOffset: 0)])
        #expect(filter.disposition(of: Self.data(2)) == .deliver)
        #expect(filter.disposition(of: Self.marker(3, abort: true)) == .control)
    }
}
