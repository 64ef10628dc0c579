import Synchronization
import Testing

@testable import Klife

@Suite struct TimeLimitedOperationTests {
    struct Refused: Error {}

    /// A wait that ignores cancellation and ends only when the test opens it.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func wait() async {
            await withCheckedContinuation { continuation in
                let open = state.withLock { state -> Bool in
                    if !state.open { state.waiter = continuation }
                    return state.open
                }
                if open { continuation.resume() }
            }
        }

        func open() {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.open = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    @Test func anAnswerInTimeIsReturnedAndAFailureThrown() async throws {
        #expect(try await TimeLimitedOperation.run(within: .seconds(10)) { 42 } == 42)
        await #expect(throws: Refused.self) { try await TimeLimitedOperation.run(within: .seconds(10)) { () async throws -> Int in throw Refused() } }
    }

    @Test func anOperationThatDoesNotAnswerIsLeftBehindAtTheLimit() async throws {
        let gate = Gate()
        defer { gate.open() }
        let result = try await TimeLimitedOperation.run(within: .milliseconds(100)) { () async -> Int in
            await gate.wait()
            return 1
        }
        // Reaching this line at all is the point: the gate opens only after it.
        #expect(result == nil)
    }

    @Test func cancellingTheCallerEndsTheWait() async {
        let gate = Gate()
        defer { gate.open() }
        let caller = Task {
            try await TimeLimitedOperation.run(within: .seconds(3600)) { () async -> Int in
                await gate.wait()
                return 1
            }
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
    }
}
