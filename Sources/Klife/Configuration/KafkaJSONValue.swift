/// A parsed JSON document (RFC 8259), as Klife's configuration files use it.
///
/// Klife parses its JSON configuration itself instead of with Foundation's `JSONSerialization`: loading
/// full Foundation (with ICU) costs every process that links Klife about 6 MB of resident memory.
enum KafkaJSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int`.
    case integer(Int)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([KafkaJSONValue])
    /// An object; of duplicate keys the last one wins.
    case object([String: KafkaJSONValue])

    /// Parses `bytes` (UTF-8) as one JSON value, optionally surrounded by whitespace.
    ///
    /// - Throws: ``KafkaJSONValue/SyntaxError`` naming the line and column of the first problem.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(SyntaxError) -> KafkaJSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// A JSON syntax error: what was wrong, and where (1-based line and column, in bytes).
    struct SyntaxError: Error, Equatable, CustomStringConvertible {
        var reason: String
        var line: Int
        var column: Int

        var description: String { "line \(line), column \(column): \(reason)" }
    }

    /// The value's kind in words, for error messages.
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .double: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}

extension KafkaJSONValue {
    /// A recursive-descent parser over UTF-8 bytes; nesting is bounded so hostile input cannot exhaust the stack.
    struct Parser {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        static let maximumDepth = 256

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ reason: String, at offset: Int? = nil) -> SyntaxError {
            let end = min(offset ?? position, bytes.count)
            var line = 1
            var lineStart = 0
            for index in 0..<end where bytes[index] == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
            }
            return SyntaxError(reason: reason, line: line, column: end - lineStart + 1)
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current,
                  byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t")
            {
                position += 1
            }
        }

        mutating func expectLiteral(_ literal: StaticString, value: KafkaJSONValue) throws(SyntaxError) -> KafkaJSONValue {
            let count = literal.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw error("invalid literal") }
            let matches = literal.withUTF8Buffer { expected in
                (0..<count).allSatisfy { bytes[position + $0] == expected[$0] }
            }
            guard matches else { throw error("invalid literal") }
            position += count
            return value
        }

        mutating func parseValue(depth: Int) throws(SyntaxError) -> KafkaJSONValue {
            guard let byte = current else { throw error("unexpected end of the document") }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expectLiteral("true", value: .bool(true))
            case UInt8(ascii: "f"): return try expectLiteral("false", value: .bool(false))
            case UInt8(ascii: "n"): return try expectLiteral("null", value: .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected character '\(Self.printable(byte))'")
            }
        }

        mutating func parseObject(depth: Int) throws(SyntaxError) -> KafkaJSONValue {
            guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
            position += 1  // {
            var object: [String: KafkaJSONValue] = [:]
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(object)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try parseString()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after the key \"\(key)\"") }
                position += 1
                skipWhitespace()
                object[key] = try parseValue(depth: depth)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(object)
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func parseArray(depth: Int) throws(SyntaxError) -> KafkaJSONValue {
            guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
            position += 1  // [
            var array: [KafkaJSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(array)
            }
            while true {
                skipWhitespace()
                array.append(try parseValue(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(array)
                default: throw error("expected ',' or ']' in a list")
                }
            }
        }

        /// A string starting at the opening quote; escapes decoded, UTF-8 validated.
        mutating func parseString() throws(SyntaxError) -> String {
            let start = position
            position += 1  // "
            var utf8: [UInt8] = []
            var runStart = position
            while true {
                guard let byte = current else { throw error("unterminated string", at: start) }
                if byte == UInt8(ascii: "\"") {
                    if runStart == start + 1 && utf8.isEmpty {
                        // No escapes: decode the bytes in place.
                        let slice = bytes[runStart..<position]
                        position += 1
                        return try validated(slice, start: start)
                    }
                    utf8.append(contentsOf: bytes[runStart..<position])
                    position += 1
                    return try validated(utf8, start: start)
                }
                if byte < 0x20 { throw error("control character in a string (escape it)") }
                if byte != UInt8(ascii: "\\") {
                    position += 1
                    continue
                }
                utf8.append(contentsOf: bytes[runStart..<position])
                position += 1
                guard let escape = current else { throw error("unterminated string", at: start) }
                position += 1
                switch escape {
                case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): utf8.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"): appendScalar(try parseUnicodeEscape(), to: &utf8)
                default: throw error("invalid escape '\\\(Self.printable(escape))'", at: position - 2)
                }
                runStart = position
            }
        }

        private func validated(_ utf8: some Sequence<UInt8>, start: Int) throws(SyntaxError) -> String {
            guard let string = String(validating: utf8, as: UTF8.self) else {
                throw error("a string that is not valid UTF-8", at: start)
            }
            return string
        }

        /// The scalar of `\uXXXX` (the `\u` already consumed), joining a UTF-16 surrogate pair.
        private mutating func parseUnicodeEscape() throws(SyntaxError) -> Unicode.Scalar {
            let escapeStart = position - 2
            let high = try parseHex4()
            if (0xD800..<0xDC00).contains(high) {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                    throw error("a lone UTF-16 surrogate in \\u escapes", at: escapeStart)
                }
                position += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw error("a lone UTF-16 surrogate in \\u escapes", at: escapeStart) }
                // Always a valid scalar: 0x10000...0x10FFFF.
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(high) else { throw error("a lone UTF-16 surrogate in \\u escapes", at: escapeStart) }
            return scalar
        }

        private mutating func parseHex4() throws(SyntaxError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("expected four hex digits after \\u") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw error("expected four hex digits after \\u")
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        private func appendScalar(_ scalar: Unicode.Scalar, to utf8: inout [UInt8]) {
            utf8.append(contentsOf: UTF8.encode(scalar)!)
        }

        /// A number per the JSON grammar (no leading zeros, no bare '.', no '+', no NaN/Infinity).
        mutating func parseNumber() throws(SyntaxError) -> KafkaJSONValue {
            let start = position
            var isInteger = true
            if current == UInt8(ascii: "-") { position += 1 }
            guard let first = current, Self.isDigit(first) else { throw error("invalid number", at: start) }
            position += 1
            if first != UInt8(ascii: "0") {
                while let byte = current, Self.isDigit(byte) { position += 1 }
            }
            if current == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                guard let byte = current, Self.isDigit(byte) else { throw error("invalid number", at: start) }
                while let byte = current, Self.isDigit(byte) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard let byte = current, Self.isDigit(byte) else { throw error("invalid number", at: start) }
                while let byte = current, Self.isDigit(byte) { position += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            if isInteger, let integer = Int(text) { return .integer(integer) }
            guard let double = Double(text), double.isFinite else { throw error("number out of range", at: start) }
            return .double(double)
        }

        static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        static func printable(_ byte: UInt8) -> String {
            byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\u{\(String(byte, radix: 16))}"
        }
    }
}
