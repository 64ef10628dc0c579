/// When a fetch decompresses compressed record batches (the ``KafkaFetchOptions/decompression`` option).
public enum KafkaFetchDecompression: Sendable, Hashable {
    /// Every batch is decompressed and decoded before the fetch returns: the records are in
    /// ``KafkaFetchedPartition/records`` (the default).
    case eager
    /// Batches are checked (checksum, aborted transactions, control batches) before the fetch returns, but
    /// decompressed only when the caller reads them: the records are in ``KafkaFetchedPartition/batches``,
    /// one ``KafkaFetchedBatch`` per record batch, and ``KafkaFetchedPartition/records`` is empty.
    ///
    /// A caller that handles one batch at a time then holds the compressed batches plus the batch in use,
    /// instead of every decompressed batch of the fetch (as Kafka's Java consumer does while draining a
    /// fetch). Decompression runs on the caller's task instead of the connection's event loop.
    case lazy
}
