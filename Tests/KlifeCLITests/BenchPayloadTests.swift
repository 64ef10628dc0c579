import NIOCore
import Testing

@testable import klife

@Suite struct BenchPayloadTests {
    // Golden strings printed by the librdkafka harness's generator (xorshift64 13/7/17, seed
    // 0x9E3779B97F4A7C15, 'a' + top 4 bits), so both clients send the same bytes.
    @Test func poolMatchesTheHarness() {
        let payload = BenchPayload(recordSize: 16)
        #expect(String(buffer: payload.pool.getSlice(at: 0, length: 32)!) == "nghdcjjnniacfalmdkpjflaiaangdfgm")
        #expect(String(buffer: payload.value(ofRecord: 1)) == "koobpnabgepggilg")
        #expect(String(buffer: payload.value(ofRecord: 200_000)) == "ongbjmmbbipjhmgp")
        var hash: UInt64 = 0
        for byte in payload.pool.readableBytesView.prefix(BenchPayload.poolSize) { hash = hash &* 31 &+ UInt64(byte) }
        #expect(hash == 8_390_051_438_459_933_668)
    }

    @Test func everyRecordIsInBoundsAndSized() {
        let payload = BenchPayload(recordSize: 10240)
        #expect(payload.pool.readableBytes == BenchPayload.poolSize + 10240)
        for i in [0, 1, 132, 1_000_000, 99_999, Int(Int32.max)] {
            #expect(payload.value(ofRecord: i).readableBytes == 10240)
            #expect(payload.offset(ofRecord: i) < BenchPayload.poolSize)
        }
        #expect(payload.pool.readableBytesView.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "p")).contains($0) })
    }

    @Test func emptyValues() {
        #expect(BenchPayload(recordSize: 0).value(ofRecord: 5).readableBytes == 0)
    }
}
