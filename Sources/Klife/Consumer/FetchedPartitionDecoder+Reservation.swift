import NIOCore

extension FetchedPartitionDecoder {
    /// How many records to reserve room for before decoding `records`: the sum of the recordsCount fields
    /// of its complete magic-2 batches, read from their headers without decoding them.
    ///
    /// Reserving once avoids regrowing the records array while decoding (each regrowth moves every record
    /// so far into fresh memory, and keeps both arrays alive at that moment). The counts are not checked
    /// yet (the CRC is verified later, while decoding), so a corrupt one must not reserve absurd amounts:
    /// each is trusted only up to what its batch could plausibly hold (1 record per 7 bytes uncompressed,
    /// the smallest record; 1 per byte compressed), and the total up to ``maxReservation``. Should the
    /// records outnumber the reservation, the array grows as it fills; legacy message sets stop the scan.
    static let maxReservation = 1 << 22

    static func reservation(for records: ByteBuffer) -> Int {
        // Kafka's record batch v2 layout: batchLength at byte 8 (counting the 12 bytes before it),
        // magic at 16, attributes at 21 (codec in the low 3 bits), recordsCount at 57, 61-byte header.
        var index = records.readerIndex
        let end = records.writerIndex
        var total = 0
        while end - index >= 61,
            let batchLength = records.getInteger(at: index + 8, as: Int32.self),
            records.getInteger(at: index + 16, as: Int8.self) == 2,
            let attributes = records.getInteger(at: index + 21, as: Int16.self),
            let count = records.getInteger(at: index + 57, as: Int32.self)
        {
            let size = 12 + Int(batchLength)
            guard batchLength >= 49, size <= end - index else { break }
            let compressed = attributes & 0x7 != 0
            let plausible = compressed ? size : size / 7
            total += min(Int(max(0, count)), plausible)
            index += size
        }
        return min(total, maxReservation)
    }
}
