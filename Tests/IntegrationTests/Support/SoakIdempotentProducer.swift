import Klife

/// The soaks' idempotent producer: batches of 100 records `p<producer>-<n>` (n counting up), round-robin
/// over the partitions, until `stop` is set; each record's value and result go to `onResult`.
enum SoakIdempotentProducer {
    static func run(
        _ client: KafkaClient, topic: String, partitions: Int32, producer: Int, until stop: LockedBox<Bool>,
        onResult: (String, Result<KafkaRecord, KafkaError>) -> Void
    ) async {
        var sequence = 0
        while !stop.withLock({ $0 }) {
            let records = (0..<100).map { i in
                KafkaRecord(topic: topic, partition: Int32((sequence + i) % Int(partitions)), value: "p\(producer)-\(sequence + i)")
            }
            sequence += records.count
            let results = await client.produceBatch(records)
            for (record, result) in zip(records, results) { onResult(record.valueString!, result) }
        }
    }
}
