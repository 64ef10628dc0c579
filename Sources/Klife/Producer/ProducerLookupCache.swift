import Synchronization

/// The producers a client has handed records to, by name.
///
/// Every produce call needs its producer: a short list of names compared with `==` (usually the same
/// string storage, so a pointer comparison) is cheaper than building the component key and hashing it.
/// A producer is never replaced once created, so entries never go stale.
///
/// It also keeps the topic routes of recent produce calls (``ProducerTopicRoute``), a few of them: a route
/// is found by comparing a short list, and routes of an older metadata generation are dropped when a new
/// one is remembered.
final class ProducerLookupCache: Sendable {
    private let entries = Mutex<[(name: String, producer: KafkaClient.NetworkProducer)]>([])
    private let routes = Mutex<[KafkaClient.NetworkRoute]>([])
    /// Routes kept at most (a client producing to more topics at once rebuilds some routes now and then).
    static let maxRoutes = 16

    /// The route for a record of `topic` in a call with `options`, if one built from metadata `generation`
    /// is remembered.
    func route(topic: String, options: KafkaProduceOptions, generation: UInt64) -> KafkaClient.NetworkRoute? {
        routes.withLock { routes in
            for route in routes where route.serves(topic: topic, options: options, generation: generation) { return route }
            return nil
        }
    }

    /// Remembers `route`, dropping routes of older generations and the one it replaces.
    func remember(_ route: KafkaClient.NetworkRoute) {
        routes.withLock { routes in
            routes.removeAll { (old: KafkaClient.NetworkRoute) -> Bool in
                if old.generation < route.generation { return true }
                return old.topic == route.topic && old.producerOverride == route.producerOverride
                    && old.partitionerOverride == route.partitionerOverride
            }
            if routes.count >= Self.maxRoutes { routes.removeFirst() }
            routes.append(route)
        }
    }

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
