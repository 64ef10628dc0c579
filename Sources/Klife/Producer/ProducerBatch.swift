import NIOCore

/// A record waiting in a partition buffer, with the bytes it counts against `maxBufferedBytes`.
struct ProducerPendingRecord<Entry> {
    var entry: Entry
    var estimatedSize: Int
}

extension ProducerPendingRecord: Sendable where Entry: Sendable {}

/// Records of one partition that travel together as one Kafka record batch.
///
/// A batch is open (accepting records) until it is full, another batch starts behind it, or it is first
/// sent. Its producer id, epoch and base sequence are stamped when it is first sent and kept across retries
/// so the broker can deduplicate; a sequence reset (KIP-360) clears them.
struct ProducerBatch<Entry> {
    /// Record batch header and framing overhead counted into a batch's size.
    static var overheadBytes: Int { 61 }

    let id: UInt64
    /// The partition the batch belongs to (completions name it).
    let topicPartition: ProducerTopicPartition
    var records: [ProducerPendingRecord<Entry>]
    /// Estimated encoded size (records plus batch overhead).
    var estimatedBytes: Int
    /// When the first record was appended: the origin of linger and of the delivery timeout.
    let createdAt: NIODeadline
    var isClosed = false

    /// Idempotence stamp, set on first send.
    var producerID: Int64 = -1
    var producerEpoch: Int16 = -1
    var baseSequence: Int32?

    /// Number of times this batch was put on the wire.
    var attempts = 0
    /// The request carrying it right now.
    var inFlightRequest: UInt64?
    /// The last attempt ended without a definite answer (transport failure, request timeout): the broker
    /// may have appended it.
    var outcomeUnknown = false
    /// An earlier attempt under the current sequence ended without a definite answer, and no answer since
    /// proved the batch absent. A later attempt that was not sent, or was refused before the broker looked
    /// at sequences (NOT_LEADER, NOT_ENOUGH_REPLICAS, …), leaves the earlier one's append possible.
    var mayBeInLogFromEarlierAttempt = false
    /// Whether the broker may hold this batch: it must not be dropped as "not written", nor its sequences
    /// given to another batch (the broker would take that one for a duplicate of this and drop it).
    var mayHaveBeenWritten: Bool { outcomeUnknown || mayBeInLogFromEarlierAttempt }
    /// The last broker error code for this batch, for reporting on timeout.
    var lastErrorCode: Int16?
    /// Sequence resets this batch went through after an OUT_OF_ORDER_SEQUENCE_NUMBER of its own.
    var outOfOrderResets = 0

    init(id: UInt64, topicPartition: ProducerTopicPartition, createdAt: NIODeadline) {
        self.id = id
        self.topicPartition = topicPartition
        self.records = []
        self.estimatedBytes = Self.overheadBytes
        self.createdAt = createdAt
    }

    var recordCount: Int { records.count }
    var isInFlight: Bool { inFlightRequest != nil }
}

extension ProducerBatch: Sendable where Entry: Sendable {}
