import Synchronization

/// The producers a client has handed records to, by name.
///
/// Every produce call needs its producer: a short list of names compared with `==` (usually the same
/// string storage, so a pointer comparison) is cheaper than building the component key and hashing it.
/// A producer is never replaced once created, so entries never go stale.
final class ProducerLookupCache: Sendable {
    private let entries = Mutex<[(name: String, producer: KafkaClient.NetworkProducer)]>([])

    /// The producer remembered for `name`, if any.
    func producer(named name: String) -> KafkaClient.NetworkProducer? {
        entries.withLock { entries in
            for entry in entries where entry.name == name { return entry.producer }
            return nil
        }
    }

    /// Remembers the producer of `name` (the first one stays if two callers race).
    func remember(_ producer: KafkaClient.NetworkProducer, named name: String) {
        entries.withLock { entries in
            guard !entries.contains(where: { $0.name == name }) else { return }
            entries.append((name, producer))
        }
    }
}
