import Klife
import Synchronization

/// The results of one chunk handed to `produceBatchAsync`: delivered by its callback, awaited by
/// `klife produce` when it prints them (in input order, chunk after chunk).
final class ProduceChunkResults: Sendable {
    typealias Results = [Result<KafkaRecord, KafkaError>]

    private let state = Mutex<(results: Results?, waiter: CheckedContinuation<Results, Never>?)>((nil, nil))

    /// From the produce callback.
    func deliver(_ results: Results) {
        let waiter = state.withLock { state -> CheckedContinuation<Results, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.results = results
            return nil
        }
        waiter?.resume(returning: results)
    }

    /// The results, once every record of the chunk is done.
    func wait() async -> Results {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Results? in
                if let results = state.results { return results }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
