import KafkaProtocol
import Testing

@testable import Klife

/// The versions from which each API is answered before the broker throttles (KIP-219), as Kafka's message
/// definitions say ("Starting in version N, on quota violation, brokers send out responses before throttling";
/// Produce: v6, per KIP-219). APIs added later throttle that way from v0.
@Suite struct ThrottleVersionTableTests {
    static let fromKafkasDefinitions: [Int16: Int16] = [
        0: 6, 1: 8, 2: 3, 3: 6, 8: 4, 9: 4, 10: 2, 11: 3, 12: 2, 13: 2, 14: 2, 15: 2, 16: 2, 18: 2, 19: 3, 20: 2,
        21: 1, 22: 1, 23: 2, 24: 1, 25: 1, 26: 1, 28: 1, 29: 1, 30: 1, 31: 1, 32: 2, 33: 1, 34: 1, 35: 1, 37: 1,
        38: 1, 39: 1, 40: 1, 41: 1, 42: 1,
    ]

    @Test func everyOlderAPIHasItsFirstVersion() {
        for (apiKey, version) in Self.fromKafkasDefinitions.sorted(by: { $0.key < $1.key }) {
            #expect(KafkaConnection.firstVersionAnsweredBeforeThrottling(apiKey: apiKey) == version, "API \(apiKey)")
        }
        // Added after KIP-219.
        for apiKey: Int16 in [44, 68, 69] {
            #expect(KafkaConnection.firstVersionAnsweredBeforeThrottling(apiKey: apiKey) == 0, "API \(apiKey)")
        }
    }
}
