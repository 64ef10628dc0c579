import NIOCore

/// A record header: a string key and an optional value. A record may carry several headers with the
/// same key; their order is kept.
public struct RecordHeader: Hashable, Sendable {
    public var key: String
    /// The value; nil is a null value (distinct from an empty one).
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}
