/// The `attributes` int16 of a record batch (magic 2).
///
/// Bits 0–2 compression codec, bit 3 timestamp type, bit 4 transactional, bit 5 control batch,
/// bit 6 `baseTimestamp` is the delete horizon (set by log compaction); bits 7–15 unused.
public struct RecordBatchAttributes: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16

    public init(rawValue: Int16) { self.rawValue = rawValue }

    public init(
        compression: KafkaCompressionCodec = .none,
        timestampType: KafkaTimestampType = .createTime,
        isTransactional: Bool = false,
        isControl: Bool = false,
        hasDeleteHorizon: Bool = false
    ) {
        var raw = Int16(compression.rawValue)
        if timestampType == .logAppendTime { raw |= 1 << 3 }
        if isTransactional { raw |= 1 << 4 }
        if isControl { raw |= 1 << 5 }
        if hasDeleteHorizon { raw |= 1 << 6 }
        rawValue = raw
    }

    /// The raw codec bits (0–7; only 0–4 are defined).
    public var compressionBits: Int8 { Int8(rawValue & 0x07) }

    /// The codec, or nil when the codec bits hold an undefined value (5–7).
    public var compression: KafkaCompressionCodec? { KafkaCompressionCodec(rawValue: compressionBits) }

    public var timestampType: KafkaTimestampType { rawValue & (1 << 3) != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { rawValue & (1 << 4) != 0 }
    public var isControl: Bool { rawValue & (1 << 5) != 0 }
    public var hasDeleteHorizon: Bool { rawValue & (1 << 6) != 0 }

    public var description: String {
        "RecordBatchAttributes(compression: \(compression.map(String.init(describing:)) ?? "bits \(compressionBits)"), "
            + "timestampType: \(timestampType), transactional: \(isTransactional), control: \(isControl), "
            + "deleteHorizon: \(hasDeleteHorizon))"
    }
}
