import KafkaProtocol

/// What a broker advertised in ApiVersions, and the version chosen for each API we know.
public struct KafkaNegotiatedVersions: Sendable {
    /// The broker's advertised range per API key.
    public let brokerRanges: [Int16: ClosedRange<Int16>]
    public let policy: KafkaAPIVersionPolicy
    /// Chosen versions for the APIs in `supported` at init, indexed by API key (-1 = unusable).
    private let chosen: [Int16]

    /// - Parameters:
    ///   - brokerRanges: from the broker's ApiVersions response.
    ///   - supported: our range per API key (the generated messages' `validVersions`).
    init(brokerRanges: [Int16: ClosedRange<Int16>], supported: [Int16: ClosedRange<Int16>], policy: KafkaAPIVersionPolicy) {
        self.brokerRanges = brokerRanges
        self.policy = policy
        let count = Int((supported.keys.max() ?? -1) + 1)
        var chosen = [Int16](repeating: -1, count: max(count, 0))
        for (apiKey, ours) in supported where apiKey >= 0 {
            if let theirs = brokerRanges[apiKey], let version = policy.version(for: apiKey, supported: ours, broker: theirs) {
                chosen[Int(apiKey)] = version
            }
        }
        self.chosen = chosen
    }

    /// The version to use for `apiKey` (one of the APIs this library implements), nil when the broker
    /// lacks it or no version satisfies both sides and the policy.
    public func version(for apiKey: Int16) -> Int16? {
        guard apiKey >= 0, Int(apiKey) < chosen.count else { return nil }
        let version = chosen[Int(apiKey)]
        return version >= 0 ? version : nil
    }

    /// The version to use for request type `R`.
    public func version<R: KafkaRequestMessage>(for _: R.Type) -> Int16? {
        if let version = version(for: R.apiKey) { return version }
        guard let theirs = brokerRanges[R.apiKey] else { return nil }
        return policy.version(for: R.apiKey, supported: R.validVersions, broker: theirs)
    }
}
