/// The compression codec a producer applies to its record batches.
///
/// Klife offers none, gzip and snappy; lz4 and zstd are added here. The raw value is the codec id of the
/// record batch `attributes` field (bits 0–2).
public enum KafkaCompression: Int8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    /// The compression levels the codec takes (KIP-390's `compression.<codec>.level`), nil when it has none
    /// (none, snappy):
    /// - gzip: 1 (fastest) to 9 (smallest); zlib's default is 6;
    /// - lz4: 0 to 17. 0 to 2 are liblz4's fast mode (the default, and what librdkafka sends), 3 to 12 its
    ///   high-compression mode, and levels above 12 compress as 12 (Kafka's Java client takes 1 to 17);
    /// - zstd: -131072 (fastest) to 22 (smallest); 0 is zstd's default, 3. Levels 20 to 22 need a 64 or 128
    ///   MiB window to read, which Kafka's consumers accept.
    public var levels: ClosedRange<Int>? {
        switch self {
        case .none, .snappy: nil
        case .gzip: 1...9
        case .lz4: 0...17
        case .zstd: -131_072...22
        }
    }

    /// The problem with compressing at `level`, naming `option`; nil when the codec takes it (or `level` is nil).
    func levelProblem(_ level: Int?, option: String) -> String? {
        guard let level else { return nil }
        guard let levels else { return "\(option) is \(level), but \(self) compression has no levels (remove it, or pick gzip, lz4 or zstd)" }
        guard levels.contains(level) else { return "\(option) must be within \(levels.lowerBound)...\(levels.upperBound) for \(self) (got \(level))" }
        return nil
    }

    /// Parses a codec name as the CLI and configuration files spell it (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = match
    }
}
