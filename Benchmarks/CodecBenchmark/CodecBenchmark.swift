// Codec benchmark: record batch encode/decode throughput for 1 MiB of 100-byte records,
// uncompressed and per codec, and CRC32C throughput.
//
// Run: swift run -c release KlifeCodecBenchmark [--seconds 1.0] [--codec NAME] [--payload json|bench]

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

    /// The values of `klife bench` and the librdkafka harness (see Sources/klife/BenchPayload.swift): slices of
    /// one pool of letters `a`…`p` from xorshift64, record `i` at `(i * 7919) mod 2^20`. Codec speeds differ by
    /// payload (zstd 1.5.4 against 1.5.7 differs by ~3% on the JSON-ish values, ~15% on these), so the
    /// produce benchmark's figures are reproduced with these.
    static func makeBenchValues() -> [ByteBuffer] {
        let poolSize = 1 << 20
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var pool = ByteBuffer()
        pool.writeWithUnsafeMutableBytes(minimumWritableBytes: poolSize + recordSize) { out in
            for j in 0..<(poolSize + recordSize) {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                out[j] = UInt8(ascii: "a") &+ UInt8(truncatingIfNeeded: state >> 60)
            }
            return poolSize + recordSize
        }
        return (0..<(totalBytes / recordSize)).map { i in
            pool.getSlice(at: Int((UInt64(i) &* 7919) % UInt64(poolSize)), length: recordSize)!
        }
    }

    struct Measurement {
        var iterations: Int
        /// CPU time of this thread: robust against other processes competing for the cores.
        var cpuSeconds: Double
        var wallSeconds: Double
        var perIteration: Double { cpuSeconds / Double(iterations) }
        var wallPerIteration: Double { wallSeconds / Double(iterations) }
    }

    static func threadCPUTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func wallTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Runs `body` for `budget` seconds of CPU time after a warm-up.
    static func measure(seconds budget: Double, _ body: () throws -> Void) rethrows -> Measurement {
        for _ in 0..<3 { try body() }
        var iterations = 0
        let cpuStart = threadCPUTime()
        let wallStart = wallTime()
        var cpu = 0.0
        repeat {
            try body()
            iterations += 1
            cpu = threadCPUTime() - cpuStart
        } while cpu < budget
        return Measurement(iterations: iterations, cpuSeconds: cpu, wallSeconds: wallTime() - wallStart)
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
        var codecs = KafkaCompressionCodec.allCases
        if let i = arguments.firstIndex(of: "--codec"), i + 1 < arguments.count {
            codecs = codecs.filter { $0.description == arguments[i + 1] }
        }
        var payload = "json"
        if let i = arguments.firstIndex(of: "--payload"), i + 1 < arguments.count { payload = arguments[i + 1] }
        guard payload == "json" || payload == "bench" else { fatalError("--payload json|bench") }
        let values = payload == "bench" ? makeBenchValues() : makeValues()
        let valueBytes = values.reduce(0) { $0 + $1.readableBytes }
        print("KlifeCodecBenchmark: \(values.count) records of \(recordSize) bytes (\(valueBytes) value bytes, \(payload) payload) per batch")
        print("CRC32C hardware: \(CRC32C.isHardwareAccelerated)")
        print("throughput = value bytes / thread CPU time (uncompressed payload rate); wall-clock rates in the last column")
        print("")
        print("codec    | batch bytes | encode        | decode        | encode rec/s | decode rec/s | wall encode/decode")
        print("---------|-------------|---------------|---------------|--------------|--------------|-------------------")
        let timestamp: Int64 = 1_700_000_000_000
        for codec in codecs {
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
                    + String(format: "%12.0f", Double(values.count) / decodeTime.perIteration) + " | "
                    + String(format: "%.2f / %.2f GB/s", Double(valueBytes) / encodeTime.wallPerIteration / 1e9,
                             Double(valueBytes) / decodeTime.wallPerIteration / 1e9))
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
