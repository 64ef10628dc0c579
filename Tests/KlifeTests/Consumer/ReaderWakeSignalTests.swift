import Testing

@testable import Klife

@Suite struct ReaderWakeSignalTests {
    /// Whether `sleep` returns within 10 s (it is asked to sleep a minute).
    static func returnsSoon(_ signal: ReaderWakeSignal, whileDoing other: @escaping @Sendable () async -> Void = {}) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await signal.sleep(until: .now + .seconds(60))
                return true
            }
            group.addTask {
                await other()
                try? await Task.sleep(for: .seconds(10))
                return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    @Test func aWakeBeforeTheSleepEndsItAtOnceAndOnlyOnce() async {
        let signal = ReaderWakeSignal()
        signal.wake()
        signal.wake()
        #expect(await Self.returnsSoon(signal))
        // Both wakes were used up by that sleep: the next one lasts until its deadline.
        let start = ContinuousClock.now
        await signal.sleep(until: start + .milliseconds(200))
        #expect(ContinuousClock.now - start >= .milliseconds(200))
    }

    @Test func aWakeDuringTheSleepEndsIt() async {
        let signal = ReaderWakeSignal()
        #expect(await Self.returnsSoon(signal) {
            try? await Task.sleep(for: .milliseconds(100))
            signal.wake()
        })
    }

    @Test func cancellingTheSleeperEndsTheSleep() async {
        let signal = ReaderWakeSignal()
        let sleeper = Task { await signal.sleep(until: .now + .seconds(60)) }
        sleeper.cancel()
        await sleeper.value
        // And the signal still works afterwards.
        signal.wake()
        #expect(await Self.returnsSoon(signal))
    }
}
