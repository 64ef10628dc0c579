import KafkaProtocol
import NIOCore
import Testing

/// Seeded mutation fuzzing of every generated response decoder and of the record batch reader: what a
/// hostile or broken broker can send. Every input must end in a value or a `KafkaProtocolError` (a crash
/// or trap kills the test run), quickly (no hang), and without amplification (what decodes re-encodes to a
/// size bounded by the input, so no forged length made us materialise more than the bytes we got). A value
/// that decodes must also survive encode → decode → encode unchanged: the codec agrees with itself on
/// every input it accepts.
///
/// `scripts/fuzz.sh` runs the same tests longer (`KLIFE_FUZZ_SCALE`) and with other seeds (`KLIFE_FUZZ_SEED`).
@Suite("Fuzzing of response decoders and record batches")
struct FuzzTests {
    static let responseCases = generatedMessageCases.filter { $0.name.hasSuffix("Response") }

    /// Outcome counts of one message's run, so a run that never decodes (or never fails) is noticed.
    struct Tally {
        var decoded = 0
        var rejected = 0
        var issues = 0
    }

    /// Decodes `input` at `version` and checks every property; records at most a few issues per message.
    static func check(_ message: GeneratedMessageCase, _ input: [UInt8], version: Int16, context: @autoclosure () -> String, tally: inout Tally) {
        var buffer = ByteBuffer(bytes: input)
        let start = ContinuousClock.now
        let outcome: Result<ByteBuffer, any Error>
        do {
            outcome = try message.decodeAndReencode(&buffer, version)
        } catch is KafkaProtocolError {
            tally.rejected += 1
            return
        } catch {
            tally.issues += 1
            if tally.issues <= 3 { Issue.record("\(message) v\(version) threw a non-protocol error \(error); \(context()) input \(input.fuzzHex())") }
            return
        }
        tally.decoded += 1
        let elapsed = ContinuousClock.now - start
        if elapsed > .seconds(2) {
            tally.issues += 1
            Issue.record("\(message) v\(version) took \(elapsed) on \(input.count) bytes; \(context())")
        }
        let reencoded: ByteBuffer
        switch outcome {
        case .success(let bytes): reencoded = bytes
        case .failure(let error):
            tally.issues += 1
            if tally.issues <= 3 {
                Issue.record("\(message) v\(version) decoded but cannot encode what it decoded: \(error); \(context()) input \(input.fuzzHex())")
            }
            return
        }
        // Invalid UTF-8 is repaired to U+FFFD (3 bytes for 1), everything else re-encodes no larger.
        let consumed = input.count - buffer.readableBytes
        if reencoded.readableBytes > 3 * consumed + 16 {
            tally.issues += 1
            Issue.record("\(message) v\(version): \(consumed) input bytes decoded into a value of \(reencoded.readableBytes) encoded bytes; \(context()) input \(input.fuzzHex())")
        }
        var again = reencoded
        do {
            let second = try message.decodeAndReencode(&again, version).get()
            if second != reencoded || again.readableBytes != 0 {
                tally.issues += 1
                if tally.issues <= 3 {
                    Issue.record("""
                        \(message) v\(version) is not stable: encode(decode(x)) = \(Array(reencoded.readableBytesView).fuzzHex()) \
                        re-encodes as \(Array(second.readableBytesView).fuzzHex()) (left \(again.readableBytes)); \(context()) input \(input.fuzzHex())
                        """)
                }
            }
        } catch {
            tally.issues += 1
            if tally.issues <= 3 {
                Issue.record("\(message) v\(version): its own encoding \(Array(reencoded.readableBytesView).fuzzHex()) does not decode: \(error); \(context()) input \(input.fuzzHex())")
            }
        }
    }

    @Test("mutated responses decode to a stable value or fail with KafkaProtocolError", arguments: responseCases)
    func mutatedResponses(_ message: GeneratedMessageCase) throws {
        let seed = FuzzBudget.seed ^ UInt64(truncatingIfNeeded: message.name.hashValueStable)
        var mutator = FuzzMutator(seed: seed)
        var tally = Tally()
        let rounds = FuzzBudget.iterations(120)
        for version in message.versions {
            let seeds = try [false, true].map { Array(try message.roundTrip(version, $0).encoded.readableBytesView) }
            for round in 0..<rounds {
                var input = seeds[round % 2]
                mutator.mutate(&input, donor: seeds[(round + 1) % 2])
                Self.check(message, input, version: version, context: "seed \(seed) round \(round)", tally: &tally)
            }
        }
        #expect(tally.issues == 0)
        // Both outcomes must occur, or the mutations are not reaching the decoder's structure.
        #expect(tally.rejected > 0, "\(message): no mutation was rejected")
        #expect(tally.decoded > 0, "\(message): no mutation decoded")
    }

    @Test("a forged length or count at any position of any response is rejected or bounded", arguments: responseCases)
    func forgedLengthAtEveryPosition(_ message: GeneratedMessageCase) throws {
        var tally = Tally()
        let forgeries: [[UInt8]] = [
            [0x7F, 0xFF, 0xFF, 0xFF],  // INT32 Int32.max
            [0x7F, 0xFF],  // INT16 Int16.max
            [0xFF, 0xFF, 0xFF, 0xFF, 0x07],  // unsigned varint Int32.max
            [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // unsigned varint UInt32.max
            [0x80, 0x80, 0x80, 0x80, 0x80],  // varint without an end
        ]
        for version in [message.versions.lowerBound, message.versions.upperBound] {
            let encoded = Array(try message.roundTrip(version, false).encoded.readableBytesView)
            for position in 0..<encoded.count {
                for forgery in forgeries {
                    var input = encoded
                    for (i, byte) in forgery.enumerated() where position + i < input.count { input[position + i] = byte }
                    Self.check(message, input, version: version, context: "forgery \(forgery.fuzzHex()) at \(position)", tally: &tally)
                }
            }
        }
        #expect(tally.issues == 0)
    }

    @Test("response headers: any bytes give a header or a KafkaProtocolError")
    func responseHeaders() {
        var mutator = FuzzMutator(seed: FuzzBudget.seed)
        for round in 0..<FuzzBudget.iterations(3_000) {
            var input: [UInt8] = [0, 0, 0, 7, 0]
            mutator.mutate(&input, donor: [0x12, 0x34, 0x56, 0x78, 0x01, 0x00, 0x00])
            for headerVersion: Int16 in [0, 1] {
                var buffer = ByteBuffer(bytes: input)
                do {
                    _ = try KafkaResponseHeader(from: &buffer, headerVersion: headerVersion)
                } catch {
                    #expect(error is KafkaProtocolError, "round \(round): \(error)")
                }
            }
        }
    }

    // MARK: Record batches

    /// Sum of key, value and header bytes of everything `bytes` decodes to, or nil when decoding throws.
    static func decodedPayloadBytes(_ bytes: [UInt8], verifiesChecksums: Bool, maxDecompressedBytes: Int) -> (payload: Int, batches: Int)? {
        var reader = RecordBatchReader(
            records: ByteBuffer(bytes: bytes), verifiesChecksums: verifiesChecksums, maxDecompressedBytes: maxDecompressedBytes)
        var payload = 0
        var batches = 0
        do {
            while let batch = try reader.next() {
                batches += 1
                var records = batch.makeRecordIterator()
                while let record = try records.next() {
                    payload += (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
                    for header in record.headers { payload += header.key.utf8.count + (header.value?.readableBytes ?? 0) }
                }
                if batch.isControlBatch { _ = try? batch.controlRecord() }
            }
            return (payload, batches)
        } catch {
            #expect(error is KafkaProtocolError, "unexpected error type: \(error)")
            return nil
        }
    }

    /// Recomputes the CRC of every v2 batch whose header is intact enough to find, so that mutations
    /// reach the record decoder instead of stopping at the checksum.
    static func fixCRCs(_ bytes: inout [UInt8]) {
        var at = 0
        while at + 61 <= bytes.count {
            let length = bytes[(at + 8)..<(at + 12)].reduce(0) { $0 << 8 | Int($1) }
            let end = at + 12 + length
            guard bytes[at + 16] == 2, length >= 49, end <= bytes.count else { return }
            let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(at + 21)..<end])) }
            for i in 0..<4 { bytes[at + 17 + i] = UInt8(truncatingIfNeeded: crc >> ((3 - i) * 8)) }
            at = end
        }
    }

    @Test("mutated record batches (checksums fixed up) decode within bounds or fail with KafkaProtocolError")
    func mutatedRecordBatches() throws {
        let corpus = try RobustnessTests.corpus().map { Array($0.readableBytesView) }
        // Two batches back to back, so mutations also hit the boundary between batches.
        let joined = corpus.indices.map { corpus[$0] + corpus[($0 + 1) % corpus.count] }
        let inputs = corpus + joined
        var mutator = FuzzMutator(seed: FuzzBudget.seed &+ 2)
        let maxDecompressed = 1 << 20
        var decoded = 0
        var rejected = 0
        for round in 0..<FuzzBudget.iterations(6_000) {
            var input = inputs[round % inputs.count]
            mutator.mutate(&input, donor: inputs[mutator.below(inputs.count)])
            if round % 4 != 0 { Self.fixCRCs(&input) }
            let start = ContinuousClock.now
            if let (payload, batches) = Self.decodedPayloadBytes(input, verifiesChecksums: round % 2 == 0, maxDecompressedBytes: maxDecompressed) {
                decoded += 1
                // Uncompressed records are slices of the input; compressed ones are capped per batch.
                #expect(payload <= input.count + batches * maxDecompressed, "round \(round): \(payload) payload bytes from \(input.count) input bytes")
            } else {
                rejected += 1
            }
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(2), "round \(round) took \(elapsed): \(input.fuzzHex())")
        }
        #expect(decoded > 100)
        #expect(rejected > 100)
    }

    @Test("a compressed batch that inflates past the limit is rejected, not materialised", arguments: [KafkaCompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressionBomb(codec: KafkaCompressionCodec) throws {
        // 8 MiB of zeros compress to a few KiB; the reader's limit is 1 MiB.
        var writer = RecordBatchWriter(compression: codec)
        writer.append(key: nil, value: ByteBuffer(repeating: 0, count: 8 << 20), timestamp: 0)
        let batch = Array(try writer.finish().readableBytesView)
        #expect(batch.count < 1 << 20)
        var reader = RecordBatchReader(records: ByteBuffer(bytes: batch), maxDecompressedBytes: 1 << 20)
        #expect(throws: KafkaProtocolError.self) {
            while let batch = try reader.next() {
                var records = batch.makeRecordIterator()
                while try records.next() != nil {}
            }
        }
        // With room for it, the same batch decodes: the limit is what rejected it.
        var roomy = RecordBatchReader(records: ByteBuffer(bytes: batch), maxDecompressedBytes: 16 << 20)
        let records = try #require(try roomy.next()).decodeRecords()
        #expect(records.first?.value?.readableBytes == 8 << 20)
    }
}

extension String {
    /// A hash that is the same in every process (Swift's `hashValue` is seeded per process).
    var hashValueStable: UInt64 {
        utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0100_0000_01B3 }
    }
}
