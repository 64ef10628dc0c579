/// The outcome of ``Swift/Sequence/verifyBatch()`` when some records failed (Klife's `{:error, records}`).
public struct KafkaBatchVerificationFailure: Error, Sendable, CustomStringConvertible {
    /// Every record of the batch, in input order; failed ones carry ``KafkaRecord/error``.
    public var records: [KafkaRecord]
    /// The indices (into ``records``) of the failed records.
    public var failedIndices: [Int]

    public init(records: [KafkaRecord], failedIndices: [Int]) {
        self.records = records
        self.failedIndices = failedIndices
    }

    /// The failed records, in input order.
    public var failedRecords: [KafkaRecord] { failedIndices.map { records[$0] } }

    public var description: String {
        let shown = failedIndices.prefix(5).map { index in
            let record = records[index]
            let reason = record.error.map { "\($0.code)\($0.kafkaCode.map { " (Kafka error code \($0))" } ?? ""): \($0.message)" } ?? "failed"
            return "record \(index) to \(record.topic)\(record.partition.map { "/\($0)" } ?? ""): \(reason)"
        }
        let more = failedIndices.count > 5 ? "; and \(failedIndices.count - 5) more" : ""
        return "\(failedIndices.count) of \(records.count) records failed: " + shown.joined(separator: "; ") + more
    }
}

extension KafkaError.Code {
    /// ``Swift/Sequence/verifiedBatch()`` found failed records; the message lists them.
    public static let batchVerificationFailed = Self("batchVerificationFailed")
}

extension Sequence where Element == KafkaRecord {
    /// Klife's `verify_batch`: `.success` with all records when none failed, else `.failure` with all records
    /// (order kept) and which of them failed.
    public func verifyBatch() -> Result<[KafkaRecord], KafkaBatchVerificationFailure> {
        let records = Array(self)
        let failed = records.indices.filter { records[$0].error != nil }
        return failed.isEmpty ? .success(records) : .failure(KafkaBatchVerificationFailure(records: records, failedIndices: failed))
    }

    /// Klife's `verify_batch!`: the records when none failed.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/batchVerificationFailed`` whose message names the
    ///   failed records and their errors; `underlying` is the ``KafkaBatchVerificationFailure``. Its `kafkaCode`
    ///   is the first failed record's Kafka code.
    public func verifiedBatch() throws -> [KafkaRecord] {
        switch verifyBatch() {
        case .success(let records):
            return records
        case .failure(let failure):
            let first = failure.records[failure.failedIndices[0]].error
            throw KafkaError(
                .batchVerificationFailed, "Batch verification failed: \(failure)",
                kafkaCode: first?.kafkaCode, isRetriable: false, underlying: failure)
        }
    }
}
