import KafkaProtocol
import NIOCore
import Testing

@Suite("Murmur2")
struct Murmur2Tests {
    /// Kafka's `UtilsTest.testMurmur2` reference vectors (org.apache.kafka.common.utils).
    @Test("Kafka UtilsTest reference vectors", arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func kafkaVectors(input: String, expected: Int32) {
        #expect(Murmur2.hash(input) == expected)
        #expect(Murmur2.hash(Array(input.utf8)) == expected)
        #expect(Murmur2.hash(ByteBuffer(string: input)) == expected)
    }

    @Test("every tail length (0-3 trailing bytes) goes through the same function")
    func tails() {
        // "1" ... "12345" as cross-checked by Akka's Kafka-compatible implementation tests.
        #expect(Murmur2.hash("1") == -1_993_445_489)
        #expect(Murmur2.hash("12") == 126_087_238)
        #expect(Murmur2.hash("123") == -267_702_483)
        #expect(Murmur2.hash("1234") == -1_614_185_708)
        #expect(Murmur2.hash("12345") == -1_188_365_604)
    }

    @Test("default partition = toPositive(murmur2(key)) % partitionCount")
    func partition() {
        // toPositive(-790332482) = 1357151166; 1357151166 % 10 = 6.
        #expect(Murmur2.toPositive(-790_332_482) == 1_357_151_166)
        #expect(Murmur2.partition(forKey: ByteBuffer(string: "foobar"), partitionCount: 10) == 6)
        #expect(Murmur2.toPositive(Int32.min) == 0)
        #expect(Murmur2.toPositive(-1) == Int32.max)
    }
}
