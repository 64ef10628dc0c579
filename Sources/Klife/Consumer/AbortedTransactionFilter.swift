/// Decides, batch by batch and in offset order, which record batches of one partition reach the user under
/// `read_committed`.
///
/// The broker sends, with each partition, the aborted transactions that overlap the returned range (producer
/// id and the first offset of the transaction). A transactional batch of producer P is aborted when an aborted
/// transaction of P started at or before the batch's last offset and P's abort marker (a control batch) has not
/// been seen since. Whole batches are judged from their headers, so aborted or control batches are skipped
/// without decompressing them.
struct AbortedTransactionFilter {
    struct AbortedTransaction: Equatable {
        var producerID: Int64
        var firstOffset: Int64
    }

    /// The header facts the decision needs.
    struct BatchHeader: Equatable {
        var lastOffset: Int64
        var producerID: Int64
        var isTransactional: Bool
        var isControl: Bool
        /// For a control batch: the control record's type (0 abort, 1 commit); nil when unknown.
        var controlType: Int16?
    }

    enum Disposition: Equatable {
        /// Give the batch's records to the user.
        case deliver
        /// A transaction marker (or other control batch): never given to the user.
        case control
        /// The batch belongs to an aborted transaction.
        case aborted
    }

    /// Control record type of an abort marker.
    static let abortMarker: Int16 = 0

    private let isReadCommitted: Bool
    /// Aborted transactions sorted by first offset; `next` indexes the first not yet opened.
    private let aborted: [AbortedTransaction]
    private var next = 0
    /// Producers whose aborted transaction has started and whose abort marker is still ahead.
    private var openAborts: Set<Int64> = []

    init(isolationLevel: KafkaIsolationLevel, abortedTransactions: [AbortedTransaction]) {
        self.isReadCommitted = isolationLevel == .readCommitted
        self.aborted = isReadCommitted ? abortedTransactions.sorted { $0.firstOffset < $1.firstOffset } : []
    }

    /// Judges the next batch; batches must be given in offset order.
    mutating func disposition(of batch: BatchHeader) -> Disposition {
        if isReadCommitted && batch.producerID >= 0 {
            while next < aborted.count && aborted[next].firstOffset <= batch.lastOffset {
                openAborts.insert(aborted[next].producerID)
                next += 1
            }
            if batch.isControl {
                if batch.controlType == Self.abortMarker { openAborts.remove(batch.producerID) }
            } else if batch.isTransactional && openAborts.contains(batch.producerID) {
                return .aborted
            }
        }
        return batch.isControl ? .control : .deliver
    }
}
