/// Byte offsets of the record batch (magic 2) header fields, from the start of the batch.
@usableFromInline
enum RecordBatchLayout {
    @usableFromInline static let baseOffset = 0
    @usableFromInline static let batchLength = 8
    @usableFromInline static let partitionLeaderEpoch = 12
    @usableFromInline static let magic = 16
    @usableFromInline static let crc = 17
    @usableFromInline static let attributes = 21
    @usableFromInline static let lastOffsetDelta = 23
    @usableFromInline static let baseTimestamp = 27
    @usableFromInline static let maxTimestamp = 35
    @usableFromInline static let producerId = 43
    @usableFromInline static let producerEpoch = 51
    @usableFromInline static let baseSequence = 53
    @usableFromInline static let recordCount = 57
    /// Size of the header; the records (or the compressed records) follow.
    @usableFromInline static let headerSize = 61
    /// baseOffset + batchLength: the bytes not counted by batchLength.
    @usableFromInline static let logOverhead = 12
}
