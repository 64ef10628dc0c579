import Klife

enum TransactionsSnippets {
    static func withTransaction(client: KafkaClient) async throws {
        // snippet.begin transaction-closure
        let offsets = try await client.withTransaction { txn in
            let order = try await txn.produce(KafkaRecord(topic: "orders", key: "o-1", value: "created"))
            let audit = try await txn.produce(KafkaRecord(topic: "audit", value: "order o-1 created"))
            return [order.offset, audit.offset]
        }
        // Both records are visible to read_committed readers now, or (on a throw) neither is.
        // snippet.end
        _ = offsets
    }

    static func produceBatchTransactionally(client: KafkaClient) async throws {
        // snippet.begin transaction-batch
        do {
            let stored = try await client.produceBatchTransactionally([
                KafkaRecord(topic: "ledger", key: "acct-1", value: "-100"),
                KafkaRecord(topic: "ledger", key: "acct-2", value: "+100"),
            ])
            print(stored.map { $0.offset! })
        } catch let error as KafkaError {
            print("nothing written: \(error.message)")
        }
        // snippet.end
    }

    static func transactionErrors(client: KafkaClient) async {
        // snippet.begin transaction-errors
        do {
            try await client.withTransaction(options: KafkaTransactionOptions(pool: "payments")) { txn in
                _ = try await txn.produce(KafkaRecord(topic: "payments", value: "charge"))
            }
        } catch {
            // KafkaTransactionError says which step failed: beginError, closureError, commitError, abortError.
            print("transaction failed: \(error)")
        }
        // snippet.end
    }
}
