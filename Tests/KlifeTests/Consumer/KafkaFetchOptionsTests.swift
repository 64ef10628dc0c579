import Testing

@testable import Klife

@Suite("KafkaFetchOptions")
struct KafkaFetchOptionsTests {
    @Test func leftOutMaxBytesTakesTheCallsDefault() {
        // fetchAsync's default holds whenever maxBytes is left out, also with other options set (as Klife).
        let isolationOnly = KafkaFetchOptions(isolationLevel: .readUncommitted)
        #expect(isolationOnly.maxBytes == nil)
        #expect(isolationOnly.withMaxBytes(default: KafkaFetchOptions.defaultFetchAsyncMaxBytes).maxBytes == 500_000)
        #expect(isolationOnly.withMaxBytes(default: KafkaFetchOptions.defaultFetchAsyncMaxBytes).isolationLevel == .readUncommitted)
        // A value given is kept.
        #expect(KafkaFetchOptions(maxBytes: 1_234).withMaxBytes(default: 500_000).maxBytes == 1_234)
        #expect(KafkaFetchOptions.async.maxBytes == 500_000)
        #expect(KafkaFetchOptions.defaultFetchMaxBytes == 100_000)
    }
}
