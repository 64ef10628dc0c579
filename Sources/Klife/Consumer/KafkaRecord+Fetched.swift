import NIOCore

extension KafkaRecord {
    /// A record read from a partition, built in one step so the decoder appends it without an
    /// intermediate copy (each copy retains the topic, key, value and headers).
    @inline(__always)
    init(
        fetchedFrom topic: String, partition: Int32, offset: Int64, key: ByteBuffer?, value: ByteBuffer?, headers: [Header],
        timestamp: Int64, batchAttributes: BatchAttributes, leaderEpoch: Int32?
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.offset = offset
        self.error = nil
        self.batchAttributes = batchAttributes
        self.leaderEpoch = leaderEpoch
        self.consumerAttempts = 0
    }
}
