/// What one fetch returned for one partition: the records, and where to continue.
public struct KafkaFetchedPartition: Sendable {
    /// The records, in offset order, filtered as the fetch options say.
    public var records: [KafkaRecord]
    /// The offset to fetch next. It can lie past the last record's offset + 1, when the answer ended with
    /// control records, records of aborted transactions or offsets removed by compaction; equal to the
    /// requested offset when nothing was returned.
    public var nextOffset: Int64
    /// Bytes of a partial batch the broker cut off at the size limit (not an error).
    var truncatedTailBytes: Int

    public init(records: [KafkaRecord], nextOffset: Int64) {
        self.init(records: records, nextOffset: nextOffset, truncatedTailBytes: 0)
    }

    init(records: [KafkaRecord], nextOffset: Int64, truncatedTailBytes: Int) {
        self.records = records
        self.nextOffset = nextOffset
        self.truncatedTailBytes = truncatedTailBytes
    }
}
