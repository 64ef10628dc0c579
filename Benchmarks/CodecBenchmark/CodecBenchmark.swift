// Codec benchmark: record batch encode/decode throughput for 1 MiB of 100-byte records,
// uncompressed and per codec, and CRC32C throughput.
//
// Run: swift run -c release KlifeCodecBenchmark [--seconds 1.0]

import Foundation
import KafkaProtocol
import NIOCore

@main
struct CodecBenchmark {
    static let recordSize = 100
    static let totalBytes = 1 << 20

    /// Semi-realistic values: JSON-ish text with varying numbers, so codecs have something to do
    /// without being handed a trivially repetitive input.
    static func makeValues() -> [ByteBuffer] {
        var rng = SystemRandomNumberGenerator()
        var values: [ByteBuffer] = []
        let count = totalBytes / recordSize
        values.reserveCapacity(count)
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
        for i in 0..<count {
            var text = "{\"id\":\(i),\"user\":\"\(words[i % 10])-\(UInt32.random(in: 0...99_999, using: &rng))\",\"v\":["
            while text.utf8.count < recordSize - 2 {
                text += "\(UInt16.random(in: 0...999, using: &rng)),"
            }
            var bytes = Array(text.utf8.prefix(recordSize - 2))
            bytes += Array("]}".utf8)
            values.append(ByteBuffer(bytes: bytes))
        }
        return values
    }

    struct Measurement {
        var iterations: Int
        var seconds: Double
        var perIteration: Double { seconds / Double(iterations) }
    }

    static func measure(seconds budget: Double, _ body: () throws -> Void) rethrows -> Measurement {
        for _ in 0..<3 { try body() }  // warm-up
        var iterations = 0
        let clock = ContinuousClock()
        let start = clock.now
        var elapsed = 0.0
        repeat {
            try body()
            iterations += 1
            let d = clock.now - start
            elapsed = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        } while elapsed < budget
        return Measurement(iterations: iterations, seconds: elapsed)
    }

    static func format(_ bytesPerSecond: Double) -> String {
        String(format: "%8.2f GB/s", bytesPerSecond / 1e9)
    }

    static func main() throws {
        var budget = 1.0
        let arguments = CommandLine.arguments
        if let i = arguments.firstIndex(of: "--seconds"), i + 1 < arguments.count, let s = Double(arguments[i + 1]) {
            budget = s
        }
        let values = makeValues()
        let valueBytes = values.reduce(0) { $0 + $1.readableBytes }
        print("KlifeCodecBenchmark: \(values.count) records of \(recordSize) bytes (\(valueBytes) value bytes) per batch")
        print("CRC32C hardware: \(CRC32C.isHardwareAccelerated)")
        print("throughput = value bytes / time (uncompressed payload rate)")
        print("")
        print("codec    | batch bytes | encode        | decode        | encode rec/s | decode rec/s")
        print("---------|-------------|---------------|---------------|--------------|-------------")
        let timestamp: Int64 = 1_700_000_000_000
        for codec in KafkaCompressionCodec.allCases {
            func encode() throws -> ByteBuffer {
                var writer = RecordBatchWriter(
                    buffer: ByteBufferAllocator().buffer(capacity: totalBytes + totalBytes / 8),
                    producerId: 1, producerEpoch: 0, baseSequence: 0, compression: codec, baseTimestamp: timestamp)
                for (i, value) in values.enumerated() {
                    writer.append(key: nil, value: value, timestamp: timestamp + Int64(i & 63))
                }
                return try writer.finish()
            }
            let batch = try encode()
            let encodeTime = try measure(seconds: budget) { _ = try encode() }
            var checksum = 0
            let decodeTime = try measure(seconds: budget) {
                var reader = RecordBatchReader(records: batch)
                while let decoded = try reader.next() {
                    var records = decoded.makeRecordIterator()
                    while let record = try records.next() { checksum &+= record.value?.readableBytes ?? 0 }
                }
            }
            precondition(checksum % valueBytes == 0, "decoded value bytes do not add up")
            let encodeRate = Double(valueBytes) / encodeTime.perIteration
            let decodeRate = Double(valueBytes) / decodeTime.perIteration
            print(
                "\(codec.description.padding(toLength: 8, withPad: " ", startingAt: 0)) | "
                    + String(format: "%11d", batch.readableBytes) + " | " + format(encodeRate) + "   | "
                    + format(decodeRate) + "   | "
                    + String(format: "%12.0f", Double(values.count) / encodeTime.perIteration) + " | "
                    + String(format: "%12.0f", Double(values.count) / decodeTime.perIteration))
        }
        print("")
        for size in [1 << 10, 64 << 10, 1 << 20] {
            let buffer = ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            var crc: UInt32 = 0
            let time = measure(seconds: budget) {
                for _ in 0..<(1 << 20) / size { crc = CRC32C.checksum(buffer, continuing: crc) }
            }
            let rate = Double(1 << 20) / time.perIteration
            print("CRC32C \(String(format: "%7d", size))-byte buffers: \(format(rate)) (\(crc & 1))")
        }
    }
}
