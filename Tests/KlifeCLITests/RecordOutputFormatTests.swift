import Klife
import NIOCore
import Testing

@testable import klife

/// `klife fetch` / `consume --format json`: bytes that are not UTF-8 also come exact, in base64.
@Suite struct RecordOutputFormatTests {
    @Test func base64FollowsRFC4648() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (text, encoded) in vectors {
            #expect(RecordOutputFormat.base64(Array(text.utf8)) == encoded, "\(text)")
        }
        #expect(RecordOutputFormat.base64([0xFF, 0xFE, 0x00]) == "//4A")
    }

    @Test func aValueThatIsNotUTF8ComesInBase64Too() {
        let binary = KafkaRecord(topic: "t", partition: 0, key: ByteBuffer(bytes: [0x80]), value: ByteBuffer(bytes: [0x66, 0xFF, 0x00]))
        let line = RecordOutputFormat.json.line(for: binary)
        #expect(line.contains(#""keyBase64":"gA==""#), "\(line)")
        #expect(line.contains(#""valueBase64":"Zv8A""#), "\(line)")
        let text = KafkaRecord(topic: "t", partition: 0, key: "k", value: "héllo")
        let plain = RecordOutputFormat.json.line(for: text)
        #expect(!plain.contains("Base64") && plain.contains(#""value":"héllo""#), "\(plain)")
    }
}
