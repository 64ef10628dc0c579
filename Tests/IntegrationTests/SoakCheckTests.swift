import KafkaProtocol
import NIOCore
import Testing

/// The soak's checks must be able to fail: each is fed a history that breaks it (no broker needed).
@Suite("Soak checks catch what they claim to")
struct SoakCheckTests {
    @Test("a record below a commit the coordinator showed before the ownership began is reported; others are not")
    func redeliveryAfterCommitIsCaught() {
        let ledger = SoakGroupLedger()
        let t0 = ContinuousClock.now
        ledger.record(.init(at: t0, committed: [0: 10, 1: 3]))
        ledger.record(.init(at: t0 + .seconds(2), committed: [0: 12]))
        ledger.record(.init(member: "old", partition: 0, offset: 5, ownedSince: t0 - .seconds(1)))  // before the commit: fine
        ledger.record(.init(member: "new", partition: 0, offset: 10, ownedSince: t0 + .seconds(1)))  // at the commit: fine
        ledger.record(.init(member: "new", partition: 0, offset: 9, ownedSince: t0 + .seconds(1)))  // below it: caught
        ledger.record(.init(member: "other", partition: 1, offset: 2, ownedSince: t0 + .seconds(3)))  // below 3: caught
        let caught = ledger.redeliveredAfterCommit().map { "\($0.member):\($0.partition)@\($0.offset)" }
        #expect(caught == ["new:0@9", "other:1@2"])
        #expect(ledger.commitsMovingBack().isEmpty)
        ledger.record(.init(at: t0 + .seconds(4), committed: [0: 11]))
        #expect(ledger.commitsMovingBack() == ["partition 0: 12 -> 11"])
    }

    @Test("each transactional record takes the fate of its producer's next marker; one without a marker is open")
    func transactionalFates() {
        func data(_ offset: Int64, _ value: String, _ pid: Int64) -> SoakRawLog.Entry {
            .init(offset: offset, value: value, producerID: pid, isTransactional: true, control: nil)
        }
        func marker(_ offset: Int64, _ type: ControlRecord.ControlType, _ pid: Int64) -> SoakRawLog.Entry {
            .init(offset: offset, value: nil, producerID: pid, isTransactional: true, control: type)
        }
        let entries: [SoakRawLog.Entry] = [
            data(0, "a", 1), data(1, "x", 2), .init(offset: 2, value: "plain", producerID: -1, isTransactional: false, control: nil),
            marker(3, .commit, 1), data(4, "b", 1), marker(5, .abort, 2), marker(6, .abort, 1), data(7, "c", 1),
        ]
        let fates = SoakRawLog.transactionalFates(entries).map { "\($0.value)=\($0.fate)" }
        #expect(fates == ["a=committed", "x=aborted", "b=aborted", "c=open"])
    }

    @Test("the proxy's frame scanner finds every frame start, also when frames and headers span chunks")
    func frameScanner() {
        // Two responses: size 8 (correlation 7) and size 4 (correlation 9), fed in awkward pieces.
        let bytes: [UInt8] = [0, 0, 0, 8, 0, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 4, 0, 0, 0, 9]
        for split in 1..<bytes.count {
            var scanner = KafkaFrameScanner(prefixLength: 8)
            let starts = scanner.scan(ByteBuffer(bytes: bytes[..<split])) + scanner.scan(ByteBuffer(bytes: bytes[split...]))
            #expect(starts.map { Array($0.prefix[4..<8]) } == [[0, 0, 0, 7], [0, 0, 0, 9]], "split at \(split)")
            #expect(starts.map(\.frameBytes) == [12, 8])
        }
    }
}
