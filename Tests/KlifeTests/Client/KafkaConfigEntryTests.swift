import Testing

@testable import Klife

@Suite struct KafkaConfigEntryTests {
    @Test func sourcesFromTheWire() {
        #expect([1, 2, 3, 4, 5, 9].map { KafkaConfigEntry.Source(wireValue: $0) } == [.topic, .dynamicBroker, .dynamicDefaultBroker, .staticBroker, .default, .other(9)])
        #expect(!KafkaConfigEntry(name: "retention.ms", value: "1", source: .topic).isInherited)
        #expect(KafkaConfigEntry(name: "retention.ms", value: "1", source: .staticBroker).isInherited)
    }

    @Test func changesOnTheWire() {
        #expect(KafkaConfigChange.set("a", "1").wire == (0, "1"))
        #expect(KafkaConfigChange.delete("a").wire == (1, nil))
        #expect(KafkaConfigChange.append("a", "x").wire == (2, "x"))
        #expect(KafkaConfigChange.subtract("a", "x").wire == (3, "x"))
        #expect(KafkaConfigChange.subtract("b", "x").name == "b")
    }
}
