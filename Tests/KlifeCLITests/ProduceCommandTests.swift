import ArgumentParser
import Foundation
import Klife
import Testing

@testable import klife

/// `klife produce --producer-config FILE`: every documented key is read, flags win over the file, and a bad
/// line names the file and the key.
@Suite struct ProduceCommandTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("klife-producer-\(UInt64.random(in: 0...UInt64.max)).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func everyKeyOfTheFileIsReadAndFlagsWin() throws {
        let path = try Self.file("""
            # producer options
            acks = all
            linger_ms=12
            batch_size_bytes=65536
            delivery_timeout_ms=90000
            request_timeout_ms=20000
            retry_backoff_ms=250
            max_in_flight_requests=3
            batchers_count=2
            enable_idempotence=true
            compression=zstd
            compression_level=19
            max_buffered_bytes=33554432
            max_buffered_records=5000
            max_record_bytes=2000000
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try ProduceCommand.parse(["--topic", "t", "--producer-config", path]).makeProducerConfiguration()
        #expect(fromFile.acks == .all)
        #expect(fromFile.linger == .milliseconds(12))
        #expect(fromFile.batchSizeBytes == 65536)
        #expect(fromFile.deliveryTimeout == .milliseconds(90000))
        #expect(fromFile.requestTimeout == .milliseconds(20000))
        #expect(fromFile.retryBackoff == .milliseconds(250))
        #expect(fromFile.maxInFlightRequests == 3)
        #expect(fromFile.batchersCount == 2)
        #expect(fromFile.enableIdempotence)
        #expect(fromFile.compression == .zstd)
        #expect(fromFile.compressionLevel == 19)
        #expect(fromFile.maxBufferedBytes == 33_554_432)
        #expect(fromFile.maxBufferedRecords == 5000)
        #expect(fromFile.maxRecordBytes == 2_000_000)

        let flagsWin = try ProduceCommand.parse([
            "--topic", "t", "--producer-config", path, "--linger-ms", "3", "--compression", "lz4", "--compression-level", "9", "--no-idempotence",
        ]).makeProducerConfiguration()
        #expect(flagsWin.linger == .milliseconds(3))
        #expect(flagsWin.compression == .lz4)
        #expect(flagsWin.compressionLevel == 9)
        #expect(!flagsWin.enableIdempotence)
        #expect(flagsWin.maxBufferedRecords == 5000)
    }

    @Test(arguments: [
        ("max_buffered_records=many", "max_buffered_records must be an integer"),
        ("no_such_option=1", "unknown producer option no_such_option"),
        ("linger_ms", "expected KEY=VALUE"),
    ])
    func aBadLineNamesTheFileAndTheKey(line: String, expected: String) throws {
        let path = try Self.file(line + "\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let command = try ProduceCommand.parse(["--topic", "t", "--producer-config", path])
        let error = #expect(throws: ValidationError.self) { try command.makeProducerConfiguration() }
        #expect(error?.message.contains(path) == true && error?.message.contains(expected) == true, "\(String(describing: error?.message))")
    }
}
