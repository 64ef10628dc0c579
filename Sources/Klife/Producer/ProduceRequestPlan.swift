/// A Produce request the engine decided to send: one batch per partition, all led by one broker.
///
/// The executor encodes each batch (records, stamp, compression) straight into the outgoing buffer, sends
/// it, and reports the result with ``ProducerStateMachine/requestCompleted(_:result:now:)``.
struct ProduceRequestPlan<Entry> {
    struct Batch {
        var topicPartition: ProducerTopicPartition
        /// -1 when not idempotent.
        var producerID: Int64
        var producerEpoch: Int16
        /// -1 when not idempotent.
        var baseSequence: Int32
        var records: [ProducerPendingRecord<Entry>]
        var estimatedBytes: Int
        /// 1 on the first send.
        var attempt: Int
    }

    var requestID: UInt64
    var sink: ProducerSinkID
    var acks: Int16
    var batches: [Batch]

    /// acks=0: the broker sends no response; report ``ProduceRequestResult/sentWithoutResponse`` once written.
    var expectsResponse: Bool { acks != 0 }
}

/// How a Produce request ended.
enum ProduceRequestResult: Sendable {
    /// The broker answered; one entry per partition it answered for.
    case response([ProducePartitionResult])
    /// acks=0 and the request was written.
    case sentWithoutResponse
    /// No answer (connection lost, request timeout, encode failure before writing): the outcome is unknown.
    case transportFailure(message: String)
    /// The request was never written (e.g. no connection to the broker could be made): nothing was appended.
    case notSent(message: String)
}

/// One partition's part of a Produce response.
struct ProducePartitionResult: Sendable, Equatable {
    struct RecordError: Sendable, Equatable {
        var batchIndex: Int32
        var message: String?
    }

    var topicPartition: ProducerTopicPartition
    var errorCode: Int16
    var baseOffset: Int64
    var logAppendTime: Int64
    var recordErrors: [RecordError]
    var errorMessage: String?

    init(
        _ topicPartition: ProducerTopicPartition, errorCode: Int16 = 0, baseOffset: Int64 = -1,
        logAppendTime: Int64 = -1, recordErrors: [RecordError] = [], errorMessage: String? = nil
    ) {
        self.topicPartition = topicPartition
        self.errorCode = errorCode
        self.baseOffset = baseOffset
        self.logAppendTime = logAppendTime
        self.recordErrors = recordErrors
        self.errorMessage = errorMessage
    }
}

extension ProduceRequestPlan: Sendable where Entry: Sendable {}
extension ProduceRequestPlan.Batch: Sendable where Entry: Sendable {}
