import Synchronization
import Testing
@testable import Klife

@Suite struct GroupSignalTests {
    @Test func anOperationThatEndsFirstGivesItsValue() async throws {
        let signal = GroupSignal()
        #expect(try await signal.unlessFired { 42 } == 42)
        #expect(!signal.isFired)
    }

    @Test func anOperationsErrorReachesTheCaller() async {
        struct Failed: Error {}
        await #expect(throws: Failed.self) { try await GroupSignal().unlessFired { () async throws -> Int in throw Failed() } }
    }

    /// The operation waits on a sleep that only a cancellation ends; the signal fires while it waits.
    @Test func theSignalEndsAWaitingOperationAndCancelsIt() async throws {
        let signal = GroupSignal()
        let cancelled = LockedFlag()
        let waiting = GroupSignal()
        async let result = signal.unlessFired { () async throws -> Int in
            waiting.fire()
            do {
                try await Task.sleep(for: .seconds(3_600))
            } catch {
                cancelled.set()
                throw error
            }
            return 1
        }
        await waiting.wait()
        signal.fire()
        #expect(try await result == nil)
        #expect(cancelled.isSet, "the operation was not cancelled")
    }

    @Test func aFiredSignalDoesNotRunTheOperation() async throws {
        let signal = GroupSignal()
        signal.fire()
        let ran = LockedFlag()
        #expect(try await signal.unlessFired { ran.set() } == nil)
        #expect(!ran.isSet)
    }

    final class LockedFlag: Sendable {
        private let flag = Mutex(false)
        func set() { flag.withLock { $0 = true } }
        var isSet: Bool { flag.withLock { $0 } }
    }
}
