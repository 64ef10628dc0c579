import ArgumentParser
import Testing

@testable import klife

/// `klife consume`'s options: the spellings of `--offset`, and which of them a group member may use.
@Suite struct ConsumeCommandTests {
    @Test func offsetSpellings() {
        typealias Start = ConsumeCommand.StartOffset
        #expect(Start(argument: "earliest") == .earliest)
        #expect(Start(argument: "beginning") == .earliest)
        #expect(Start(argument: "latest") == .latest)
        #expect(Start(argument: "end") == .latest)
        #expect(Start(argument: "42") == .offset(42))
        #expect(Start(argument: "0") == .offset(0))
        #expect(Start(argument: "-10") == .beforeEnd(10))
        #expect(Start(argument: "@1700000000000") == .timestamp(1_700_000_000_000))
        #expect(Start(argument: "s@5") == .timestamp(5))
        for bad in ["", "-0", "-", "-x", "@", "@-5", "s@", "first", "1.5", "--3"] {
            #expect(Start(argument: bad) == nil, "\(bad)")
        }
    }

    @Test func aGroupTakesOnlyAResetPolicy() throws {
        for allowed in ["earliest", "end"] {
            _ = try ConsumeCommand.parse(["--topic", "t", "--group", "g", "--offset", allowed])
        }
        for refused in ["5", "-5", "@5"] {
            #expect(throws: (any Error).self, "\(refused)") {
                _ = try ConsumeCommand.parse(["--topic", "t", "--group", "g", "--offset", refused])
            }
        }
    }

    @Test func timeoutZeroFollowsAndNegativeIsRefused() throws {
        let following = try ConsumeCommand.parse(["--topic", "t", "--timeout-ms", "0"])
        #expect(following.timeoutMs == 0)
        #expect(throws: (any Error).self) { _ = try ConsumeCommand.parse(["--topic", "t", "--timeout-ms", "-1"]) }
        // Relative and timestamp starts work across all partitions; an absolute offset needs one.
        _ = try ConsumeCommand.parse(["--topic", "t", "--offset", "-5"])
        _ = try ConsumeCommand.parse(["--topic", "t", "--offset", "@5"])
        #expect(throws: (any Error).self) { _ = try ConsumeCommand.parse(["--topic", "t", "--offset", "5"]) }
    }
}
