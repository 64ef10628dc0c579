extension KafkaRecord {
    /// Presence bits of ``KafkaRecord``'s optional scalar properties in `storedFlags`.
    enum StoredFlag {
        static let partition: UInt8 = 1 << 0
        static let timestamp: UInt8 = 1 << 1
        static let offset: UInt8 = 1 << 2
        static let batchAttributes: UInt8 = 1 << 3
        static let leaderEpoch: UInt8 = 1 << 4
    }

    mutating func setFlag(_ flag: UInt8, _ isSet: Bool) {
        if isSet { storedFlags |= flag } else { storedFlags &= ~flag }
    }
}

extension KafkaRecord.BatchAttributes {
    /// One byte: compression in bits 0-2, timestamp type in bit 3, transactional in bit 4, control in bit 5.
    var packed: UInt8 {
        var bits = UInt8(truncatingIfNeeded: compression.rawValue) & 0b111
        if timestampType == .logAppendTime { bits |= 1 << 3 }
        if isTransactional { bits |= 1 << 4 }
        if isControl { bits |= 1 << 5 }
        return bits
    }

    /// The attributes packed by ``packed``.
    init(packed: UInt8) {
        self.init(
            compression: KafkaCompression(rawValue: Int8(packed & 0b111)) ?? .none,
            timestampType: packed & (1 << 3) != 0 ? .logAppendTime : .createTime,
            isTransactional: packed & (1 << 4) != 0,
            isControl: packed & (1 << 5) != 0)
    }
}

/// The error of a failed produce result, boxed so ``KafkaRecord`` carries one reference instead of the
/// error inline (only failed records set it).
final class KafkaRecordFailure: Sendable {
    let error: KafkaError

    init(_ error: KafkaError) {
        self.error = error
    }
}
