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
    /// The partition's high watermark when the broker answered: the offset after the last record every in-sync
    /// replica has, so the records a read_uncommitted fetch can reach end just before it. -1 when not known.
    public var highWatermark: Int64
    /// The partition's last stable offset when the broker answered: read_committed fetches end before it
    /// (the first offset of a transaction still open). -1 when the broker did not say (Fetch before v4).
    public var lastStableOffset: Int64
    /// The partition's first offset still kept (log start offset) when the broker answered. -1 when the broker
    /// did not say (Fetch before v5).
    public var logStartOffset: Int64
    /// The leader epoch of the last batch read (the one that ends at ``nextOffset``), when the broker stamped
    /// one: the ``KafkaFetchPosition/lastFetchedEpoch`` of the next fetch, so the broker can tell whether its
    /// log still holds what was read. The requested position's epoch when nothing was read.
    public var lastFetchedEpoch: Int32?
    /// Set when the broker found the log no longer holds what was read up to the requested position (see
    /// ``KafkaFetchPosition/lastFetchedEpoch``): there are no records, ``nextOffset`` is where the logs part
    /// (the divergence's end offset, or the requested offset when that is lower) and ``lastFetchedEpoch`` the
    /// last epoch they share. Fetching on from there reads the leader's log as it now is, as Kafka's Java consumer
    /// does; records read at or after ``nextOffset`` before are no longer in the log.
    public var divergence: KafkaLogDivergence?
    /// Bytes of a partial batch the broker cut off at the size limit (not an error).
    var truncatedTailBytes: Int

    /// Whether the fetch read committed records only (its end is then the last stable offset).
    var readCommitted = false

    /// The consumer lag of this partition as of this fetch: the records between ``nextOffset`` and the end the
    /// fetch can reach, which is the ``highWatermark``, or for a read_committed fetch the ``lastStableOffset``
    /// (as Java's consumer counts it). 0 when that end is not known.
    public var lag: Int64 {
        let end = readCommitted && lastStableOffset >= 0 ? lastStableOffset : highWatermark
        return end >= 0 ? max(0, end - nextOffset) : 0
    }

    /// A fetched partition with these records (for tests and adapters; fetches build their own). The offsets
    /// the broker reports default to -1, not known.
    public init(
        records: [KafkaRecord], nextOffset: Int64, highWatermark: Int64 = -1, lastStableOffset: Int64 = -1,
        logStartOffset: Int64 = -1, lastFetchedEpoch: Int32? = nil, divergence: KafkaLogDivergence? = nil
    ) {
        self.init(records: records, nextOffset: nextOffset, lastFetchedEpoch: lastFetchedEpoch, truncatedTailBytes: 0)
        self.divergence = divergence
        self.highWatermark = highWatermark
        self.lastStableOffset = lastStableOffset
        self.logStartOffset = logStartOffset
    }

    init(
        records: [KafkaRecord], batches: [KafkaFetchedBatch] = [], nextOffset: Int64, lastFetchedEpoch: Int32?,
        truncatedTailBytes: Int
    ) {
        self.records = records
        self.batches = batches
        self.nextOffset = nextOffset
        self.lastFetchedEpoch = lastFetchedEpoch
        self.highWatermark = -1
        self.lastStableOffset = -1
        self.logStartOffset = -1
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
