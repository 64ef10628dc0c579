/// Standard base64 (RFC 4648 §4, with padding) for SCRAM messages; the library does not pull in
/// Foundation for these few bytes.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            out.append(b1.map { alphabet[Int(($0 & 0x0F) << 2 | (b2 ?? 0) >> 6)] } ?? UInt8(ascii: "="))
            out.append(b2.map { alphabet[Int($0 & 0x3F)] } ?? UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded base64; nil when the input is not valid base64.
    static func decode(_ string: some StringProtocol) -> [UInt8]? {
        let input = Array(string.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let c0 = decodeTable[Int(input[index])]
            let c1 = decodeTable[Int(input[index + 1])]
            guard c0 != 0xFF, c1 != 0xFF else { return nil }
            out.append(c0 << 2 | c1 >> 4)
            if isLast && input[index + 2] == UInt8(ascii: "=") {
                guard input[index + 3] == UInt8(ascii: "=") else { return nil }
                break
            }
            let c2 = decodeTable[Int(input[index + 2])]
            guard c2 != 0xFF else { return nil }
            out.append((c1 & 0x0F) << 4 | c2 >> 2)
            if isLast && input[index + 3] == UInt8(ascii: "=") { break }
            let c3 = decodeTable[Int(input[index + 3])]
            guard c3 != 0xFF else { return nil }
            out.append((c2 & 0x03) << 6 | c3)
            index += 4
        }
        return out
    }
}
