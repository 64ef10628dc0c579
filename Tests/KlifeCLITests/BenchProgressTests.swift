import Testing

@testable import klife

@Suite struct BenchProgressTests {
    @Test func halfway() {
        let line = BenchProgressLine(barWidth: 10)
            .render(records: 500_000, total: 1_000_000, bytes: 50_000_000, elapsedSeconds: 2)
        #expect(line == "[#####-----] 500,000/1,000,000 records 50% 25.0 MB/s 2.0 s ETA 2.0 s")
    }

    @Test func startAndEnd() {
        let line = BenchProgressLine(barWidth: 4)
        #expect(line.render(records: 0, total: 10, bytes: 0, elapsedSeconds: 0) == "[----] 0/10 records 0% 0.0 MB/s 0.0 s ETA --")
        #expect(line.render(records: 10, total: 10, bytes: 1_000_000, elapsedSeconds: 1) == "[####] 10/10 records 100% 1.0 MB/s 1.0 s done")
    }

    @Test func durations() {
        #expect(BenchProgressLine.duration(5.25) == "5.3 s")
        #expect(BenchProgressLine.duration(125) == "2m05s")
        #expect(BenchProgressLine.duration(3725) == "1h02m")
        #expect(BenchProgressLine.duration(.infinity) == "--")
    }

    @Test func countsFromManyTasks() async {
        let progress = BenchProgress(totalRecords: 1000)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask { for _ in 0..<100 { progress.add(records: 1, bytes: 10) } }
            }
        }
        #expect(progress.records == 1000)
        #expect(progress.bytes == 10_000)
    }
}
