import KafkaProtocol
import NIOCore

@testable import Klife

/// A partition's log as the broker stores it, control markers included: what the soak checks transactions
/// against, independently of the client's read_committed filter (which needs the broker's
/// aborted-transactions list; neither test broker sends one).
enum SoakRawLog {
    struct Entry: Sendable {
        var offset: Int64
        /// nil for a control record.
        var value: String?
        var producerID: Int64
        var isTransactional: Bool
        /// Set for a control record: its type (commit or abort).
        var control: ControlRecord.ControlType?
    }

    /// Every record and control record of `topic`/`partition` from offset 0 to the high watermark,
    /// read_uncommitted, straight from the leader.
    static func read(client: KafkaClient, topic: String, partition: Int32) async throws -> [Entry] {
        var entries: [Entry] = []
        var next: Int64 = 0
        while true {
            let (connection, _) = try await client.cluster.leaderConnection(for: KafkaTopicPartition(topic, partition))
            // v4…12 name the topic (13+ use topic ids) and carry the isolation level.
            let version = min(connection.negotiatedVersion(for: FetchRequest.self) ?? 4, 12)
            // MaxWaitMs 10, not 0: Tansu answers a Fetch with MaxWaitMs 0 with no topics at all.
            let request = FetchRequest(
                maxWaitMs: 10, minBytes: 0, maxBytes: 4 << 20, isolationLevel: 0,
                topics: [.init(topic: topic, partitions: [.init(partition: partition, fetchOffset: next, partitionMaxBytes: 4 << 20)])])
            let response = try await connection.send(request, version: version, timeout: .seconds(10))
            guard let answer = response.responses.first?.partitions.first else { throw Unexpected(what: "no partition in the Fetch answer (v\(version), offset \(next))") }
            guard response.errorCode == 0, answer.errorCode == 0 else {
                throw Unexpected(what: "Fetch error \(response.errorCode)/\(answer.errorCode) at offset \(next)")
            }
            // No CRC check: the mock cluster writes control batches with CRC 0 (Kafka computes one). The
            // client under test checks CRCs on its own path; here only the batches' content matters.
            var reader = RecordBatchReader(records: answer.records ?? ByteBuffer(), verifiesChecksums: false)
            let before = next
            while let batch = try reader.next() {
                if batch.isControlBatch {
                    if batch.baseOffset >= next {
                        entries.append(Entry(
                            offset: batch.baseOffset, value: nil, producerID: batch.producerId, isTransactional: true,
                            control: try batch.controlRecord().type))
                    }
                } else {
                    var iterator = batch.makeRecordIterator()
                    while let record = try iterator.next() {
                        guard record.offset >= next else { continue }
                        entries.append(Entry(
                            offset: record.offset, value: record.value.map { String(buffer: $0) }, producerID: batch.producerId,
                            isTransactional: batch.isTransactional, control: nil))
                    }
                }
                next = max(next, batch.nextOffset)
            }
            if next == before {
                if next >= answer.highWatermark { return entries }
                throw Unexpected(what: "no progress at offset \(next) below the high watermark \(answer.highWatermark)")
            }
        }
    }

    struct Unexpected: Error, CustomStringConvertible {
        let what: String
        var description: String { "raw log read: \(what)" }
    }

    /// What became of each transactional record: the first control marker of its producer after it.
    enum Fate: Equatable { case committed, aborted, open }

    /// The values of transactional records with their fate; non-transactional records are left out.
    static func transactionalFates(_ entries: [Entry]) -> [(offset: Int64, value: String, fate: Fate)] {
        var result: [(offset: Int64, value: String, fate: Fate)] = []
        var pending: [Int64: [Int]] = [:]  // producer id -> indexes in result awaiting a marker
        for entry in entries where entry.isTransactional {
            if let control = entry.control {
                for index in pending.removeValue(forKey: entry.producerID) ?? [] {
                    result[index].fate = control == .commit ? .committed : .aborted
                }
            } else if let value = entry.value {
                pending[entry.producerID, default: []].append(result.count)
                result.append((entry.offset, value, .open))
            }
        }
        return result
    }
}
