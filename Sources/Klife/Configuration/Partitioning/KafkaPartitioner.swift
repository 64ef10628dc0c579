/// Chooses the partition of a record that names none (Klife's `Klife.Behaviours.Partitioner`).
///
/// Configure partitioners on ``KafkaClient/Configuration`` (a default one plus named ones that topics and
/// produce calls refer to). Implementations are called concurrently from many tasks and must be cheap:
/// the producer calls ``partition(for:partitionCount:)`` once per record.
public protocol KafkaPartitioner: Sendable {
    /// The partition for `record`, in `0..<partitionCount` (`partitionCount` is at least 1). Called only for
    /// records whose ``KafkaRecord/partition`` is nil. A result out of range fails the record.
    func partition(for record: KafkaRecord, partitionCount: Int32) -> Int32

    /// Told by the producer when the batch it was filling for `topic`/`previousPartition` was closed and a new
    /// one starts, so a sticky partitioner can move on (KIP-480). The default does nothing.
    func onNewBatch(topic: String, previousPartition: Int32, partitionCount: Int32)
}

extension KafkaPartitioner {
    public func onNewBatch(topic: String, previousPartition: Int32, partitionCount: Int32) {}
}
