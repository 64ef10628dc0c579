/// Where a partition's log parts from what a consumer read (KIP-320): the answer to a fetch whose
/// ``KafkaFetchPosition/lastFetchedEpoch`` the leader's log no longer holds up to the fetch offset, as after an
/// unclean leader election cut the log short. Records read at or past ``endOffset`` are gone from the log;
/// other records may take their offsets.
public struct KafkaLogDivergence: Sendable, Hashable {
    /// The last leader epoch both logs share.
    public var epoch: Int32
    /// The end (exclusive) of ``epoch`` in the leader's log: the first offset known to differ.
    public var endOffset: Int64

    public init(epoch: Int32, endOffset: Int64) {
        self.epoch = epoch
        self.endOffset = endOffset
    }
}
