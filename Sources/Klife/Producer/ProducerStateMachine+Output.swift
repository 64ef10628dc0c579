/// What an event asks the executor to do, besides the event's own result.
struct ProducerStateMachineOutput<Entry> {
    struct Completion {
        var entry: Entry
        var result: Result<ProducedRecordInfo, ProducerFailure>
    }

    /// Records that are done, in per-partition order.
    var completions: [Completion] = []
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
