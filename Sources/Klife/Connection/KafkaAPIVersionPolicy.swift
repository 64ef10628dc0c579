/// Per-API limits applied when choosing a request version, on top of "highest version both sides
/// support".
///
/// Some brokers advertise versions they implement badly, so the chosen version can be bounded per API
/// with a floor, a ceiling and individually excluded versions. ``default`` carries the limits this
/// library needs everywhere; adjust a copy to work around a particular broker.
public struct KafkaAPIVersionPolicy: Sendable, Equatable {
    public struct Limit: Sendable, Equatable {
        /// Lowest acceptable version; nil = no floor.
        public var floor: Int16?
        /// Highest acceptable version; nil = no ceiling.
        public var ceiling: Int16?
        /// Versions never used, even when both sides advertise them.
        public var excluded: Set<Int16>

        public init(floor: Int16? = nil, ceiling: Int16? = nil, excluded: Set<Int16> = []) {
            self.floor = floor
            self.ceiling = ceiling
            self.excluded = excluded
        }
    }

    /// Limits by API key.
    public var limits: [Int16: Limit]

    public init(limits: [Int16: Limit] = [:]) {
        self.limits = limits
    }

    /// The built-in limits:
    /// - Produce ≥ 3 and Fetch ≥ 4: this library writes and reads only v2 record batches (magic 2).
    /// - ListOffsets ≥ 1, InitProducerId ≥ 3, OffsetCommit never v1: advertised but broken on Tansu
    ///   (v0 truncated, v0–2 answer UNKNOWN_SERVER_ERROR, v1 rejects standalone commits).
    public static let `default` = KafkaAPIVersionPolicy(limits: [
        0: Limit(floor: 3),  // Produce
        1: Limit(floor: 4),  // Fetch
        2: Limit(floor: 1),  // ListOffsets
        8: Limit(excluded: [1]),  // OffsetCommit
        22: Limit(floor: 3),  // InitProducerId
    ])

    /// Sets the lowest version used for `apiKey`.
    public mutating func setFloor(_ version: Int16?, for apiKey: Int16) {
        limits[apiKey, default: Limit()].floor = version
    }

    /// Sets the highest version used for `apiKey`.
    public mutating func setCeiling(_ version: Int16?, for apiKey: Int16) {
        limits[apiKey, default: Limit()].ceiling = version
    }

    /// Never uses `version` of `apiKey`.
    public mutating func exclude(_ version: Int16, for apiKey: Int16) {
        limits[apiKey, default: Limit()].excluded.insert(version)
    }

    /// The highest version in both ranges that the limits allow, nil when there is none.
    public func version(
        for apiKey: Int16, supported: ClosedRange<Int16>, broker: ClosedRange<Int16>
    ) -> Int16? {
        let limit = limits[apiKey]
        let low = max(supported.lowerBound, broker.lowerBound, limit?.floor ?? .min)
        let high = min(supported.upperBound, broker.upperBound, limit?.ceiling ?? .max)
        guard low <= high else { return nil }
        var version = high
        while true {
            if limit?.excluded.contains(version) != true { return version }
            if version == low { return nil }
            version -= 1
        }
    }
}
