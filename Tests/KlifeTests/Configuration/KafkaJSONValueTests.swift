import Configuration
@testable import Klife
import Testing

/// Klife's own JSON reader (RFC 8259), used instead of Foundation's JSONSerialization. Expected values come
/// from the RFC's grammar, not from the parser.
@Suite struct KafkaJSONValueTests {
    static func parse(_ text: String) throws -> KafkaJSONValue {
        try parse(bytes: Array(text.utf8))
    }

    static func parse(bytes: [UInt8]) throws -> KafkaJSONValue {
        try bytes.withUnsafeBytes { try KafkaJSONValue.parse($0) }
    }

    @Test func scalarsAndStructures() throws {
        #expect(try Self.parse(" true ") == .bool(true))
        #expect(try Self.parse("false") == .bool(false))
        #expect(try Self.parse("null") == .null)
        #expect(try Self.parse(#""a b""#) == .string("a b"))
        #expect(try Self.parse("[]") == .array([]))
        #expect(try Self.parse("{}") == .object([:]))
        #expect(try Self.parse(" {\n\t\"a\" : [1, \"x\", {\"b\": null}, []] ,\r\n \"c\": {\"d\": false}}") == .object([
            "a": .array([.integer(1), .string("x"), .object(["b": .null]), .array([])]),
            "c": .object(["d": .bool(false)]),
        ]))
        // Of duplicate keys the last one wins.
        #expect(try Self.parse(#"{"a": 1, "a": 2}"#) == .object(["a": .integer(2)]))
    }

    @Test func numbers() throws {
        #expect(try Self.parse("0") == .integer(0))
        #expect(try Self.parse("-0") == .integer(0))
        #expect(try Self.parse("42") == .integer(42))
        #expect(try Self.parse("-9223372036854775808") == .integer(Int.min))
        #expect(try Self.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))  // beyond Int
        #expect(try Self.parse("1.5") == .double(1.5))
        #expect(try Self.parse("-0.25") == .double(-0.25))
        #expect(try Self.parse("1e3") == .double(1000))
        #expect(try Self.parse("2E-2") == .double(0.02))
        #expect(try Self.parse("5.0e+1") == .double(50))
    }

    @Test func stringEscapes() throws {
        #expect(try Self.parse(#""\" \\ \/ \b \f \n \r \t""#) == .string("\" \\ / \u{8} \u{C} \n \r \t"))
        #expect(try Self.parse(#""caf\u00e9 \u00E9""#) == .string("café é"))
        #expect(try Self.parse(#""\ud83d\ude00!""#) == .string("😀!"))  // a UTF-16 surrogate pair
        #expect(try Self.parse("\"ünï €\"") == .string("ünï €"))  // raw UTF-8 passes through
        #expect(try Self.parse(#"{"k\u0041": "v"}"#) == .object(["kA": .string("v")]))
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a: 1}", "[1 2]", "01", "+1", ".5", "1.", "1e", "-", "--1",
        "NaN", "Infinity", "tru", "nul", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00x\"",
        "\"\\ud800\\u0041\"", "\"tab\there\"", "[1] 2", "{} {}", "'single'", "1e400",
    ])
    func invalidDocumentsAreRejected(text: String) {
        #expect(throws: KafkaJSONValue.SyntaxError.self) { try Self.parse(text) }
    }

    @Test func invalidUTF8IsRejected() {
        #expect(throws: KafkaJSONValue.SyntaxError.self) { try Self.parse(bytes: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: KafkaJSONValue.SyntaxError.self) { try Self.parse(bytes: [0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
    }

    @Test func deepNestingIsRefused() throws {
        let limit = KafkaJSONValue.Parser.maximumDepth
        _ = try Self.parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        #expect(throws: KafkaJSONValue.SyntaxError.self) {
            try Self.parse(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        }
    }

    @Test func errorsNameLineAndColumn() {
        #expect(throws: KafkaJSONValue.SyntaxError(reason: "expected ',' or '}' in an object", line: 3, column: 10)) {
            try Self.parse("{\n  \"a\": 1,\n  \"b\": 2 \"c\": 3}")
        }
        #expect(throws: KafkaJSONValue.SyntaxError(reason: "unexpected end of the document", line: 1, column: 6)) {
            try Self.parse("{\"a\":")
        }
    }
}

@Suite struct KafkaJSONSnapshotTests {
    static func snapshot(_ json: String, options: KafkaJSONSnapshot.ParsingOptions = .default) throws -> KafkaJSONSnapshot {
        let bytes = Array(json.utf8)
        return try KafkaJSONSnapshot(data: bytes.span.bytes, providerName: "test", parsingOptions: options)
    }

    static func content(_ snapshot: KafkaJSONSnapshot, _ key: [String], _ type: ConfigType) throws -> ConfigContent? {
        try snapshot.value(forKey: AbsoluteConfigKey(key), type: type).value?.content
    }

    @Test func valuesConvertOnlyToTheirOwnType() throws {
        let snapshot = try Self.snapshot("""
            {"s": "text", "i": 7, "d": 2.5, "w": 3.0, "b": true, "n": null, "e": [], "ss": ["a", "b"], "is": [1, 2.0],
             "bs": [true, false], "mixed": ["a", 1], "nested": {"deeper": {"x": 1}}, "topics": {"audit.log": {"p": "q"}},
             "bytes": "AQI=", "notBase64": "?!"}
            """)
        #expect(try Self.content(snapshot, ["s"], .string) == .string("text"))
        #expect(try Self.content(snapshot, ["i"], .int) == .int(7))
        #expect(try Self.content(snapshot, ["i"], .double) == .double(7))
        #expect(try Self.content(snapshot, ["d"], .double) == .double(2.5))
        #expect(try Self.content(snapshot, ["w"], .int) == .int(3))
        #expect(try Self.content(snapshot, ["b"], .bool) == .bool(true))
        #expect(try Self.content(snapshot, ["n"], .string) == nil)
        #expect(try Self.content(snapshot, ["absent"], .string) == nil)
        #expect(try Self.content(snapshot, ["e"], .stringArray) == .stringArray([]))
        #expect(try Self.content(snapshot, ["e"], .intArray) == .intArray([]))
        #expect(try Self.content(snapshot, ["ss"], .stringArray) == .stringArray(["a", "b"]))
        #expect(try Self.content(snapshot, ["is"], .intArray) == .intArray([1, 2]))
        #expect(try Self.content(snapshot, ["is"], .doubleArray) == .doubleArray([1, 2]))
        #expect(try Self.content(snapshot, ["bs"], .boolArray) == .boolArray([true, false]))
        #expect(try Self.content(snapshot, ["nested", "deeper", "x"], .int) == .int(1))
        #expect(try Self.content(snapshot, ["nested"], .string) == nil)  // a section, not a value
        #expect(try Self.content(snapshot, ["topics", "audit.log", "p"], .string) == .string("q"))
        #expect(try Self.content(snapshot, ["bytes"], .bytes) == .bytes([1, 2]))

        for (key, type) in [
            ("s", ConfigType.int), ("i", .string), ("i", .bool), ("b", .int), ("b", .double), ("d", .int), ("s", .stringArray),
            ("ss", .string), ("ss", .intArray), ("mixed", .stringArray), ("mixed", .intArray), ("bs", .intArray),
            ("notBase64", .bytes), ("i", .bytes),
        ] {
            #expect(throws: KafkaError.self, "\(key) as \(type)") { try Self.content(snapshot, [key], type) }
        }
    }

    @Test func secretsAreMarked() throws {
        let options = KafkaJSONSnapshot.ParsingOptions(secretsSpecifier: .specific(["sasl.password"]))
        let snapshot = try Self.snapshot(#"{"sasl": {"password": "hunter2", "username": "u"}}"#, options: options)
        #expect(try snapshot.value(forKey: AbsoluteConfigKey(["sasl", "password"]), type: .string).value?.isSecret == true)
        #expect(try snapshot.value(forKey: AbsoluteConfigKey(["sasl", "username"]), type: .string).value?.isSecret == false)
        #expect(!snapshot.debugDescription.contains("hunter2"))
        #expect(snapshot.debugDescription.contains("sasl.username=u"))
    }

    @Test func topLevelMustBeAnObject() throws {
        #expect(throws: KafkaError.self) { try Self.snapshot("[1]") }
        #expect(throws: KafkaError.self) { try Self.snapshot("{\"a\": }") }
        do {
            _ = try Self.snapshot("{\n\"a\": tru}")
            Issue.record("no error")
        } catch let error as KafkaError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("line 2, column 6"), "\(error.message)")
        }
    }
}
