import Foundation
import KafkaProtocol
import NIOCore

/// How long the seeded fuzz runs go. The default keeps `swift test` short; `scripts/fuzz.sh` (or
/// `KLIFE_FUZZ_SCALE=N`) multiplies every iteration count by N, and `KLIFE_FUZZ_SEED` picks another seed
/// (a failure message always names the seed and round, so a run reproduces with the same values).
enum FuzzBudget {
    static let scale: Int = max(1, Int(ProcessInfo.processInfo.environment["KLIFE_FUZZ_SCALE"] ?? "") ?? 1)
    static let seed: UInt64 = UInt64(ProcessInfo.processInfo.environment["KLIFE_FUZZ_SEED"] ?? "") ?? 0x4B4C_4946_4521

    static func iterations(_ base: Int) -> Int { base * scale }
}

/// Structure-aware byte mutations for Kafka wire data: besides bit flips and random bytes, it forges the
/// things a hostile peer would (length and count prefixes of 0, -1, Int32.max, just past the end, varints
/// that never end, repeated or cut-out regions, and splices of two valid messages).
struct FuzzMutator {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(rng.next() % UInt64(bound)) }

    /// Applies 1–4 stacked mutations; `donor` is another valid input to splice from.
    mutating func mutate(_ bytes: inout [UInt8], donor: [UInt8]) {
        for _ in 0...below(4) { mutateOnce(&bytes, donor: donor) }
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8], donor: [UInt8]) {
        if bytes.isEmpty {
            bytes = (0..<below(16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            return
        }
        let at = below(bytes.count)
        switch below(12) {
        case 0:  // bit flip
            bytes[at] ^= UInt8(1) << UInt8(below(8))
        case 1:  // random byte
            bytes[at] = UInt8(truncatingIfNeeded: rng.next())
        case 2:  // interesting byte: null markers, varint continuation, sign bits
            bytes[at] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF][below(6)]
        case 3:  // forged INT16 length (STRING, old-style nullable string)
            let values: [Int16] = [0, -1, -2, .max, .min, 0x100, Int16(truncatingIfNeeded: bytes.count - at)]
            overwrite(&bytes, at: at, bigEndian: UInt16(bitPattern: values[below(values.count)]))
        case 4:  // forged INT32 length or count (ARRAY, BYTES, batch lengths)
            let values: [Int32] = [0, 1, -1, -2, .max, .min, 0x3FFF_FFFF, 0x10000, Int32(truncatingIfNeeded: bytes.count - at + 1)]
            overwrite(&bytes, at: at, bigEndian: UInt32(bitPattern: values[below(values.count)]))
        case 5:  // forged unsigned varint (compact lengths and counts, tagged field sizes)
            let forms: [[UInt8]] = [
                [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // UInt32.max
                [0xFF, 0xFF, 0xFF, 0xFF, 0x07],  // Int32.max
                [0x80, 0x80, 0x80, 0x80, 0x80, 0x80],  // never terminates within 5 bytes
                [0x80, 0x80, 0x80, 0x80, 0x10],  // overflows 32 bits
                [0x81, 0x80, 0x80, 0x80, 0x00],  // overlong encoding of 1
                [0x00], [0x01], [0x02],
            ]
            let form = forms[below(forms.count)]
            for (i, byte) in form.enumerated() where at + i < bytes.count { bytes[at + i] = byte }
        case 6:  // insert random bytes
            let count = 1 + below(16)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 7:  // cut a region out
            let count = 1 + below(min(32, bytes.count - at))
            bytes.removeSubrange(at..<(at + count))
        case 8:  // repeat a region (duplicated array elements, doubled tagged fields)
            let count = 1 + below(min(64, bytes.count - at))
            let region = Array(bytes[at..<(at + count)])
            bytes.insert(contentsOf: region, at: below(bytes.count + 1))
        case 9:  // truncate
            bytes.removeSubrange(at..<bytes.count)
        case 10:  // splice: our prefix, the donor's suffix
            guard !donor.isEmpty else { return }
            bytes = Array(bytes[..<at]) + Array(donor[below(donor.count)...])
        default:  // swap two bytes
            bytes.swapAt(at, below(bytes.count))
        }
    }

    private func overwrite<T: FixedWidthInteger>(_ bytes: inout [UInt8], at: Int, bigEndian value: T) {
        let size = MemoryLayout<T>.size
        for i in 0..<size where at + i < bytes.count {
            bytes[at + i] = UInt8(truncatingIfNeeded: value >> ((size - 1 - i) * 8))
        }
    }
}

extension Array where Element == UInt8 {
    /// Hex of the first `limit` bytes, for failure messages that must reproduce a case.
    func fuzzHex(limit: Int = 512) -> String {
        prefix(limit).map { String(format: "%02x", $0) }.joined() + (count > limit ? "…(\(count) bytes)" : "")
    }
}
