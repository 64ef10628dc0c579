import Klife
import NIOCore

enum ProducingSnippets {
    static func produce(client: KafkaClient) async throws {
        // snippet.begin produce-sync
        let record = KafkaRecord(
            topic: "orders", key: "customer-42", value: #"{"total": 99}"#,
            headers: [.init(key: "source", value: "checkout")])
        do {
            let stored = try await client.produce(record)
            print("partition \(stored.partition!), offset \(stored.offset!)")
        } catch let error as KafkaError {
            print("not stored: \(error.code) \(error.message), retriable: \(error.isRetriable)")
        }
        // snippet.end
    }

    static func produceOnEventLoop(client: KafkaClient) async throws {
        // snippet.begin produce-on-event-loop
        let executor = try await client.producerTaskExecutor(topic: "orders", partition: 0)
        try await withTaskExecutorPreference(executor) {
            for index in 0..<1_000 {
                // Runs on the thread that sends partition 0's records: no thread hop per call.
                _ = try await client.produce(KafkaRecord(topic: "orders", partition: 0, value: "order \(index)"))
            }
        }
        // snippet.end
    }

    static func produceBatch(client: KafkaClient) async {
        // snippet.begin produce-batch
        let records = (0..<100).map { KafkaRecord(topic: "events", key: "device-\($0 % 8)", value: "reading \($0)") }
        let results = await client.produceBatch(records)
        for case .failure(let error) in results {
            print("failed: \(error.message)")
        }
        // snippet.end
    }

    static func produceAsync(client: KafkaClient) async throws {
        // snippet.begin produce-async
        for index in 0..<10_000 {
            // Returns once the record is buffered; waits only while maxBufferedBytes is reached.
            try await client.produceAsync(KafkaRecord(topic: "clicks", value: "click \(index)")) { result in
                if case .failure(let error) = result { print("click \(index) lost: \(error.message)") }
            }
        }
        await client.flush()  // every buffered record is acknowledged or failed
        // snippet.end
    }

    static func produceOptions(client: KafkaClient) async throws {
        // snippet.begin produce-options
        let stored = try await client.produce(
            KafkaRecord(topic: "audit", value: "login"),
            options: KafkaProduceOptions(producer: "bulk"))
        // snippet.end
        _ = stored
    }
}
