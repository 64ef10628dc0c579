import KafkaProtocol
import NIOCore
import Testing

@Suite("CRC32C")
struct CRC32CTests {
    @Test("check value of \"123456789\" is 0xE3069283 (RFC 3720 / iSCSI)")
    func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test("RFC 3720 B.4 vectors: 32 zero bytes, 32 0xFF bytes, 0...31, 31...0")
    func rfc3720Vectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test("hardware paths (crc32 streams, VPCLMULQDQ folding from 1 KiB) equal the table path for every length up to 3 KiB and large sizes")
    func hardwareMatchesTable() {
        var rng = BatchTestRandom(seed: 42)
        let data = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            var lengths = Array(0...3_100)
            lengths += [8_191, 8_192, 24_575, 24_576, 24_577, 49_152 + 771, 65_536 + 255, 65_536 + 256, 100_000, 199_990]
            for length in lengths {
                for offset in [0, 3] where offset + length <= all.count {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    for start: UInt32 in [0x1234_5678, 0, 0xFFFF_FFFF] {
                        let fast = CRC32C.checksum(slice, continuing: start)
                        let slow = CRC32C.softwareChecksum(slice, continuing: start)
                        #expect(fast == slow, "length \(length) offset \(offset) start \(start)")
                    }
                }
            }
        }
    }

    @Test("continuing a checksum equals checksumming the concatenation")
    func incremental() {
        let bytes = Array("The quick brown fox jumps over the lazy dog".utf8)
        let whole = CRC32C.checksum(bytes)
        let first = CRC32C.checksum(Array(bytes[..<10]))
        #expect(CRC32C.checksum(Array(bytes[10...]), continuing: first) == whole)
        #expect(CRC32C.checksum(ByteBuffer(bytes: bytes)) == whole)
        #expect(whole == 0x2262_0404)
    }

    @Test("hardware acceleration is available on x86-64 CI machines")
    func hardwareAvailable() {
        #if arch(x86_64)
            #expect(CRC32C.isHardwareAccelerated)
        #endif
    }
}
