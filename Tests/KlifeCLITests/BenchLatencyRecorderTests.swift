import Testing

@testable import klife

@Suite struct BenchLatencyRecorderTests {
    @Test func percentilesOfAUniformSpread() throws {
        var recorder = BenchLatencyRecorder()
        for us in 1...1000 { recorder.record(nanoseconds: UInt64(us) * 1000) }
        let s = try #require(recorder.summary)
        // HdrHistogram with 3 significant digits: within 0.1% of the exact nearest-rank values.
        #expect(abs(s.p50 - 500) <= 0.5)
        #expect(abs(s.p99 - 990) <= 1)
        #expect(abs(s.p999 - 999) <= 1)
        #expect(abs(s.max - 1000) <= 1)
        #expect(abs(s.mean - 500.5) <= 1)
    }

    @Test func durations() throws {
        var a = BenchLatencyRecorder()
        for _ in 0..<90 { a.record(.microseconds(100)) }
        for _ in 0..<10 { a.record(.milliseconds(10)) }
        #expect(a.count == 100)
        let s = try #require(a.summary)
        #expect(abs(s.p50 - 100) <= 0.1)
        #expect(abs(s.p99 - 10_000) <= 10)
    }

    @Test func latenciesBeyondTheInitialRangeAreKept() throws {
        var recorder = BenchLatencyRecorder()
        recorder.record(.microseconds(300))
        recorder.record(.seconds(700))
        #expect(recorder.count == 2)
        let s = try #require(recorder.summary)
        #expect(abs(s.max - 700_000_000) <= 700_000)
        #expect(abs(s.p50 - 300) <= 0.3)
    }

    @Test func emptyHasNoSummary() {
        #expect(BenchLatencyRecorder().summary == nil)
    }
}
