import NIOCore
import KafkaProtocol

extension KafkaRecord {
    /// A record read from a partition, built in one step so the decoder appends it without an
    /// intermediate copy (each copy retains the topic, key, value and headers).
    @inline(__always)
    init(
        fetchedFrom topic: String, partition: Int32, offset: Int64, key: ByteBuffer?, value: ByteBuffer?, headers: [Header],
        timestamp: Int64, batchAttributes: BatchAttributes, leaderEpoch: Int32?
    ) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.storedTimestamp = timestamp
        self.storedOffset = offset
        self.storedFailure = nil
        self.storedPartition = partition
        self.storedLeaderEpoch = leaderEpoch ?? 0
        self.storedConsumerAttempts = 0
        self.storedFlags =
            StoredFlag.partition | StoredFlag.timestamp | StoredFlag.offset | StoredFlag.batchAttributes
            | (leaderEpoch != nil ? StoredFlag.leaderEpoch : 0)
        self.storedBatchAttributes = batchAttributes.packed
    }
}

extension KafkaRecord.BatchAttributes {
    /// The attributes of a fetched batch whose records reach the caller (control batches never do).
    init(ofDeliveredBatch batch: RecordBatch) {
        self.init(
            compression: KafkaCompression(rawValue: batch.compression.rawValue) ?? .none,
            timestampType: batch.timestampType == .logAppendTime ? .logAppendTime : .createTime,
            isTransactional: batch.isTransactional, isControl: false)
    }
}
