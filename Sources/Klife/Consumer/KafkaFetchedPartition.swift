/// What one fetch returned for one partition: the records, and where to continue.
public struct KafkaFetchedPartition: Sendable {
    /// The records, in offset order, filtered as the fetch options say. Empty when the fetch used
    /// ``KafkaFetchDecompression/lazy``: the records are then in ``batches``.
    public var records: [KafkaRecord]
    /// With ``KafkaFetchDecompression/lazy``: the record batches to deliver, in offset order, each decompressed
    /// when its ``KafkaFetchedBatch/records()`` is called (control batches and batches of aborted transactions
    /// already left out). Empty with ``KafkaFetchDecompression/eager`` (the default).
    public var batches: [KafkaFetchedBatch]
    /// The offset to fetch next. It can lie past the last record's offset + 1, when the answer ended with
    /// control records, records of aborted transactions or offsets removed by compaction; equal to the
    /// requested offset when nothing was returned.
    public var nextOffset: Int64
    /// Bytes of a partial batch the broker cut off at the size limit (not an error).
    var truncatedTailBytes: Int

    public init(records: [KafkaRecord], nextOffset: Int64) {
        self.init(records: records, nextOffset: nextOffset, truncatedTailBytes: 0)
    }

    init(records: [KafkaRecord], batches: [KafkaFetchedBatch] = [], nextOffset: Int64, truncatedTailBytes: Int) {
        self.records = records
        self.batches = batches
        self.nextOffset = nextOffset
        self.truncatedTailBytes = truncatedTailBytes
    }

    /// Every record: ``records`` followed by the records of ``batches``, decompressing each batch.
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/corruptRecords`` when a batch cannot be decoded
    ///   (see ``KafkaFetchedBatch/records()``).
    public func allRecords() throws -> [KafkaRecord] {
        guard !batches.isEmpty else { return records }
        var all = records
        for batch in batches { all += try batch.records() }
        return all
    }
}
