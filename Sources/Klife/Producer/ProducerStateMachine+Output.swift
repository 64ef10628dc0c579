/// What an event asks the executor to do, besides the event's own result.
struct ProducerStateMachineOutput<Entry> {
    /// Records of one partition that ended with one outcome: a whole batch, or one record the broker
    /// rejected (KIP-467). Handed over as the batch's record array, without a copy per record.
    struct Completion {
        var topicPartition: ProducerTopicPartition
        var records: [ProducerPendingRecord<Entry>]
        /// On success, ``ProducedRecordInfo/offset`` is the first record's offset (the others follow it one
        /// by one), or -1 when the broker gave none.
        var result: Result<ProducedRecordInfo, ProducerFailure>

        /// The outcome of the record at `position`.
        func result(at position: Int) -> Result<ProducedRecordInfo, ProducerFailure> {
            guard case .success(let info) = result, info.offset >= 0 else { return result }
            return .success(ProducedRecordInfo(offset: info.offset &+ Int64(position), logAppendTime: info.logAppendTime))
        }
    }

    /// Records that are done, in per-partition order.
    var completions: [Completion] = []

    /// Every record's outcome, one by one, in order.
    var recordResults: [(entry: Entry, result: Result<ProducedRecordInfo, ProducerFailure>)] {
        completions.flatMap { completion in
            completion.records.indices.map { (completion.records[$0].entry, completion.result(at: $0)) }
        }
    }
    /// Drain loops to wake.
    var wake: [ProducerSinkID] = []
    /// Buffer waiters that may now append (their bytes are reserved).
    var resumedBufferWaiters: [UInt64] = []
    /// Flush callers whose wait is over.
    var resumedFlushWaiters: [UInt64] = []
    /// Some partition's leader looks stale or unknown.
    var refreshMetadata = false
    /// An InitProducerId is needed: see ``ProducerStateMachine/producerIDRequest``.
    var needsProducerID = false

    init() {}

    var isEmpty: Bool {
        completions.isEmpty && wake.isEmpty && resumedBufferWaiters.isEmpty && resumedFlushWaiters.isEmpty
            && !refreshMetadata && !needsProducerID
    }
}

extension ProducerStateMachineOutput: Sendable where Entry: Sendable {}
extension ProducerStateMachineOutput.Completion: Sendable where Entry: Sendable {}

extension ProducerStateMachine {
    typealias Output = ProducerStateMachineOutput<Entry>
}
