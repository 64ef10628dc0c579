import Testing

@testable import klife

@Suite struct BenchPayloadTests {
    // Golden strings printed by the librdkafka harness's generator (xorshift64 13/7/17, seed
    // 0x9E3779B97F4A7C15, 'a' + top 4 bits), so both clients send the same bytes.
    @Test func poolMatchesTheHarness() {
        let payload = BenchPayload(recordSize: 16)
        #expect(String(decoding: payload.pool[0..<32], as: UTF8.self) == "nghdcjjnniacfalmdkpjflaiaangdfgm")
        #expect(String(decoding: payload.value(ofRecord: 1), as: UTF8.self) == "koobpnabgepggilg")
        #expect(String(decoding: payload.value(ofRecord: 200_000), as: UTF8.self) == "ongbjmmbbipjhmgp")
        var hash: UInt64 = 0
        for byte in payload.pool[0..<BenchPayload.poolSize] { hash = hash &* 31 &+ UInt64(byte) }
        #expect(hash == 8_390_051_438_459_933_668)
    }

    @Test func everyRecordIsInBoundsAndSized() {
        let payload = BenchPayload(recordSize: 10240)
        #expect(payload.pool.count == BenchPayload.poolSize + 10240)
        for i in [0, 1, 132, 1_000_000, 99_999, Int(Int32.max)] {
            #expect(payload.value(ofRecord: i).count == 10240)
            #expect(payload.offset(ofRecord: i) < BenchPayload.poolSize)
        }
        #expect(payload.pool.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "p")).contains($0) })
    }

    @Test func emptyValues() {
        #expect(BenchPayload(recordSize: 0).value(ofRecord: 5).isEmpty)
    }
}
