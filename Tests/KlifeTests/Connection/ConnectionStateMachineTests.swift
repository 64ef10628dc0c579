import NIOCore
import Testing

@testable import Klife

@Suite struct RequestPipelineStateMachineTests {
    typealias Machine = RequestPipelineStateMachine<String>
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func written(_ action: Machine.SendAction) -> (Int32, NIODeadline?)? {
        if case .write(let id, let timer) = action { return (id, timer) }
        return nil
    }

    @Test func correlationIDsIncreaseAndWrap() {
        var machine = Machine(peer: "b", firstCorrelationID: .max - 1)
        #expect(written(machine.sendWithoutResponse())?.0 == Int32.max - 1)
        #expect(written(machine.sendRequest(apiKey: 0, deadline: t0, context: "a"))?.0 == Int32.max)
        #expect(written(machine.sendRequest(apiKey: 0, deadline: t0, context: "b"))?.0 == 0)
        #expect(machine.inFlightCount == 2)
    }

    @Test func timerIsArmedOnlyForEarlierDeadlines() {
        var machine = Machine(peer: "b")
        #expect(written(machine.sendRequest(apiKey: 0, deadline: t0 + .seconds(10), context: "a"))?.1 == t0 + .seconds(10))
        #expect(written(machine.sendRequest(apiKey: 0, deadline: t0 + .seconds(20), context: "b"))?.1 == nil)
        #expect(written(machine.sendRequest(apiKey: 0, deadline: t0 + .seconds(5), context: "c"))?.1 == t0 + .seconds(5))
    }

    @Test func responsesCompleteInOrder() {
        var machine = Machine(peer: "b")
        let id1 = written(machine.sendRequest(apiKey: 0, deadline: t0, context: "first"))!.0
        let id2 = written(machine.sendRequest(apiKey: 0, deadline: t0, context: "second"))!.0
        guard case .succeed("first") = machine.frameReceived(correlationID: id1) else {
            Issue.record("first response not matched")
            return
        }
        guard case .succeed("second") = machine.frameReceived(correlationID: id2) else {
            Issue.record("second response not matched")
            return
        }
        #expect(machine.inFlightCount == 0)
    }

    @Test func mismatchClosesWithProtocolViolation() {
        var machine = Machine(peer: "broker 1")
        _ = machine.sendRequest(apiKey: 3, deadline: t0, context: "a")
        _ = machine.sendRequest(apiKey: 3, deadline: t0, context: "b")
        guard case .closeConnection(let error, let failures) = machine.frameReceived(correlationID: 99) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == .protocolViolation)
        #expect(failures.map(\.context) == ["a", "b"])
        #expect(machine.isClosed)
        guard case .fail(let later) = machine.sendRequest(apiKey: 0, deadline: t0, context: "c") else {
            Issue.record("send after close must fail")
            return
        }
        #expect(later.code == .protocolViolation)
        guard case .none = machine.frameReceived(correlationID: 1) else {
            Issue.record("late frames are dropped")
            return
        }
    }

    @Test func shortFrameIsAViolation() {
        var machine = Machine(peer: "b")
        guard case .closeConnection(let error, _) = machine.frameReceived(correlationID: nil) else {
            Issue.record("expected close")
            return
        }
        #expect(error.code == .protocolViolation)
    }

    @Test func timerExpiresOnlyOverdueRequests() {
        var machine = Machine(peer: "b")
        _ = machine.sendRequest(apiKey: 1, deadline: t0 + .seconds(1), context: "short")
        _ = machine.sendRequest(apiKey: 1, deadline: t0 + .seconds(5), context: "long")
        guard case .armTimer(let next) = machine.timerFired(now: t0) else {
            Issue.record("nothing expired yet: re-arm")
            return
        }
        #expect(next == t0 + .seconds(1))
        guard case .closeConnection(let error, let failures) = machine.timerFired(now: t0 + .seconds(1)) else {
            Issue.record("expected timeout")
            return
        }
        #expect(error.code == .connectionClosed)
        #expect(failures.count == 2)
        #expect(failures[0].context == "short" && failures[0].error.code == .requestTimedOut)
        #expect(failures[1].context == "long" && failures[1].error.code == .connectionClosed)
        let allRetriable = failures.allSatisfy { $0.error.isRetriable }
        #expect(allRetriable)
    }

    @Test func timerWithNothingInFlightDoesNothing() {
        var machine = Machine(peer: "b")
        guard case .none = machine.timerFired(now: t0) else {
            Issue.record("expected no action")
            return
        }
    }

    @Test func inactiveFailsEverythingOnce() {
        var machine = Machine(peer: "b")
        _ = machine.sendRequest(apiKey: 1, deadline: t0, context: "a")
        let failures = machine.channelInactive()
        #expect(failures.map(\.context) == ["a"])
        #expect(failures[0].error.code == .connectionClosed && failures[0].error.isRetriable)
        #expect(machine.channelInactive().isEmpty)
    }

    @Test func errorKeepsItsCodeForInFlightRequests() {
        var machine = Machine(peer: "b")
        _ = machine.sendRequest(apiKey: 18, deadline: t0, context: "apiVersions")
        guard case .closeConnection(_, let failures) = machine.errorCaught(KafkaError(.tlsHandshakeFailed, "bad CA")) else {
            Issue.record("expected close")
            return
        }
        #expect(failures[0].error.code == .tlsHandshakeFailed)
        #expect(machine.closeError?.code == .tlsHandshakeFailed)
    }
}

@Suite struct KafkaAPIVersionPolicyTests {
    @Test func highestCommonVersion() {
        let policy = KafkaAPIVersionPolicy()
        #expect(policy.version(for: 3, supported: 0...12, broker: 0...9) == 9)
        #expect(policy.version(for: 3, supported: 4...12, broker: 0...3) == nil)
    }

    @Test func tansuDefaults() {
        let policy = KafkaAPIVersionPolicy.default
        #expect(policy.version(for: 22, supported: 0...5, broker: 0...2) == nil)  // InitProducerId ≥ 3
        #expect(policy.version(for: 22, supported: 0...5, broker: 0...5) == 5)
        #expect(policy.version(for: 2, supported: 0...9, broker: 0...0) == nil)  // ListOffsets ≥ 1
        #expect(policy.version(for: 8, supported: 0...9, broker: 0...1) == 0)  // OffsetCommit never v1
        #expect(policy.version(for: 8, supported: 0...9, broker: 1...1) == nil)
        #expect(policy.version(for: 0, supported: 0...11, broker: 0...2) == nil)  // Produce ≥ 3
    }

    @Test func configurableFloorsCeilingsAndExclusions() {
        var policy = KafkaAPIVersionPolicy()
        policy.setCeiling(7, for: 1)
        policy.setFloor(5, for: 1)
        #expect(policy.version(for: 1, supported: 0...17, broker: 0...17) == 7)
        policy.exclude(7, for: 1)
        policy.exclude(6, for: 1)
        #expect(policy.version(for: 1, supported: 0...17, broker: 0...17) == 5)
        policy.exclude(5, for: 1)
        #expect(policy.version(for: 1, supported: 0...17, broker: 0...17) == nil)
    }

    @Test func negotiatedTable() {
        let versions = KafkaNegotiatedVersions(
            brokerRanges: [3: 0...12, 22: 0...2, 18: 0...4],
            supported: [3: 0...13, 22: 0...5, 18: 0...4, 60: 0...1],
            policy: .default
        )
        #expect(versions.version(for: 3) == 12)
        #expect(versions.version(for: 18) == 4)
        #expect(versions.version(for: 22) == nil)  // broken on the broker side
        #expect(versions.version(for: 60) == nil)  // broker lacks it
        #expect(versions.version(for: 99) == nil)
        #expect(versions.version(for: -1) == nil)
    }
}

@Suite struct ConnectionSetupStateMachineTests {
    func machine(sasl: KafkaConnectionConfiguration.SASL? = nil, nonce: String? = nil) -> ConnectionSetupStateMachine {
        ConnectionSetupStateMachine(
            apiVersionsSupported: 0...4, saslHandshakeSupported: 0...1, saslAuthenticateSupported: 0...2,
            sasl: sasl.map { try! SASLClientStateMachine($0, scramNonce: nonce) }, policy: .default, peer: "broker"
        )
    }

    let brokerRanges: [Int16: ClosedRange<Int16>] = [18: 0...3, 17: 0...1, 36: 0...2, 3: 0...12]

    @Test func plainConnectionIsReadyAfterApiVersions() {
        var setup = machine()
        guard case .sendApiVersions(4) = setup.start() else { Issue.record("expected ApiVersions v4"); return }
        guard case .ready(let ranges, _) = setup.apiVersionsReceived(errorCode: 0, brokerRanges: brokerRanges) else {
            Issue.record("expected ready")
            return
        }
        #expect(ranges == brokerRanges)
    }

    @Test func unsupportedApiVersionsIsRetriedOnceWithTheBrokersVersion() {
        var setup = machine()
        _ = setup.start()
        guard case .sendApiVersions(3) = setup.apiVersionsReceived(errorCode: 35, brokerRanges: [18: 0...3]) else {
            Issue.record("expected retry at v3")
            return
        }
        guard case .fail(let error) = setup.apiVersionsReceived(errorCode: 35, brokerRanges: [18: 0...3]) else {
            Issue.record("a second UNSUPPORTED_VERSION fails")
            return
        }
        #expect(error.code == .protocolViolation)
    }

    @Test func unsupportedApiVersionsWithoutRangeRetriesV0() {
        var setup = machine()
        _ = setup.start()
        guard case .sendApiVersions(0) = setup.apiVersionsReceived(errorCode: 35, brokerRanges: [:]) else {
            Issue.record("expected retry at v0")
            return
        }
    }

    @Test func apiVersionsErrorFails() {
        var setup = machine()
        _ = setup.start()
        guard case .fail(let error) = setup.apiVersionsReceived(errorCode: -1, brokerRanges: [:]) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kafkaCode == -1)
    }

    @Test func plainSASL() {
        var setup = machine(sasl: .init(mechanism: .plain, username: "u", password: "p"))
        _ = setup.start()
        guard case .sendSaslHandshake(1, "PLAIN") = setup.apiVersionsReceived(errorCode: 0, brokerRanges: brokerRanges) else {
            Issue.record("expected SaslHandshake v1 PLAIN")
            return
        }
        guard case .sendSaslAuthenticate(2, let bytes) = setup.saslHandshakeReceived(errorCode: 0, enabledMechanisms: ["PLAIN"]) else {
            Issue.record("expected SaslAuthenticate v2")
            return
        }
        #expect(bytes == [0, UInt8(ascii: "u"), 0, UInt8(ascii: "p")])
        guard case .ready(_, let lifetime) = setup.saslAuthenticateReceived(errorCode: 0, errorMessage: nil, authBytes: [], sessionLifetimeMs: 60_000) else {
            Issue.record("expected ready")
            return
        }
        #expect(lifetime == 60_000)  // KIP-368: the connection is replaced before then
    }

    @Test func wrongPasswordIsAnAuthenticationError() {
        var setup = machine(sasl: .init(mechanism: .plain, username: "u", password: "wrong"))
        _ = setup.start()
        _ = setup.apiVersionsReceived(errorCode: 0, brokerRanges: brokerRanges)
        _ = setup.saslHandshakeReceived(errorCode: 0, enabledMechanisms: ["PLAIN"])
        guard case .fail(let error) = setup.saslAuthenticateReceived(
            errorCode: 58, errorMessage: "Invalid username or password", authBytes: []
        ) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .authenticationFailed)
        #expect(error.kafkaCode == 58)
        #expect(error.message.contains("Invalid username or password"))
        #expect(!error.isRetriable)
    }

    @Test func mechanismNotEnabled() {
        var setup = machine(sasl: .init(mechanism: .scramSHA512, username: "u", password: "p"))
        _ = setup.start()
        _ = setup.apiVersionsReceived(errorCode: 0, brokerRanges: brokerRanges)
        guard case .fail(let error) = setup.saslHandshakeReceived(errorCode: 33, enabledMechanisms: ["PLAIN", "SCRAM-SHA-256"]) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .authenticationFailed)
        #expect(error.message.contains("SCRAM-SHA-512") && error.message.contains("SCRAM-SHA-256"))
    }

    @Test func brokerWithoutSASLApis() {
        var setup = machine(sasl: .init(mechanism: .plain, username: "u", password: "p"))
        _ = setup.start()
        guard case .fail(let error) = setup.apiVersionsReceived(errorCode: 0, brokerRanges: [18: 0...3]) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.code == .authenticationFailed)
    }

    @Test func scramExchange() {
        var setup = machine(sasl: .init(mechanism: .scramSHA256, username: "user", password: "pencil"), nonce: "rOprNGfwEbeRWgbNEkqO")
        _ = setup.start()
        _ = setup.apiVersionsReceived(errorCode: 0, brokerRanges: brokerRanges)
        guard case .sendSaslAuthenticate(_, let first) = setup.saslHandshakeReceived(errorCode: 0, enabledMechanisms: []) else {
            Issue.record("expected client-first")
            return
        }
        #expect(String(decoding: first, as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        guard case .sendSaslAuthenticate(_, let final) = setup.saslAuthenticateReceived(
            errorCode: 0, errorMessage: nil, authBytes: Array(serverFirst.utf8)
        ) else {
            Issue.record("expected client-final")
            return
        }
        #expect(String(decoding: final, as: UTF8.self).hasPrefix("c=biws,"))
        guard case .fail(let error) = setup.saslAuthenticateReceived(
            errorCode: 0, errorMessage: nil, authBytes: Array("v=AAAA".utf8)
        ) else {
            Issue.record("a bad server signature fails")
            return
        }
        #expect(error.code == .authenticationFailed)
    }
}

/// A deterministic generator for backoff tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func doublesUpToTheCapWithoutJitter() {
        var backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0)
        var rng = SplitMix64(state: 1)
        let delays = (0..<6).map { _ in backoff.nextDelay(using: &rng) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        backoff.reset()
        #expect(backoff.nextDelay(using: &rng) == .milliseconds(100))
    }

    @Test func jitterStaysWithinBoundsAndVaries() {
        var rng = SplitMix64(state: 42)
        var seen = Set<Duration>()
        for _ in 0..<50 {
            var backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(10), jitter: 0.2)
            let delay = backoff.nextDelay(using: &rng)
            #expect(delay >= .milliseconds(80) && delay <= .milliseconds(120))
            seen.insert(delay)
        }
        #expect(seen.count > 10)
        var capped = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(2), jitter: 0.5)
        for _ in 0..<20 { #expect(capped.nextDelay(using: &rng) <= .seconds(2)) }
    }
}

@Suite struct ConnectionSlotStateMachineTests {
    final class FakeConnection {}
    typealias Machine = ConnectionSlotStateMachine<FakeConnection, Int>
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func lazyConnectSharedByWaitersThenReused() {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0))
        guard case .connect(1) = machine.acquire(now: t0, makePending: { 1 }) else { Issue.record("connect"); return }
        guard case .wait(1) = machine.acquire(now: t0, makePending: { 2 }) else { Issue.record("wait"); return }
        let connection = FakeConnection()
        let accepted = machine.connectSucceeded(connection, for: 1)
        #expect(accepted)
        guard case .use(let used) = machine.acquire(now: t0, makePending: { 3 }), used === connection else {
            Issue.record("use")
            return
        }
        machine.connectionClosed(FakeConnection())  // a different connection: ignored
        guard case .use = machine.acquire(now: t0, makePending: { 3 }) else { Issue.record("still in use"); return }
        machine.connectionClosed(connection)
        guard case .connect(4) = machine.acquire(now: t0, makePending: { 4 }) else { Issue.record("reconnect"); return }
    }

    @Test func failuresBackOffExponentiallyAndSuccessResets() {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0))
        var rng = SplitMix64(state: 7)
        var now = t0
        for expected: Duration in [.milliseconds(100), .milliseconds(200), .milliseconds(400)] {
            guard case .connect = machine.acquire(now: now, makePending: { 0 }) else { Issue.record("connect"); return }
            #expect(machine.connectFailed(KafkaError(.connectionFailed, "refused"), for: 0, now: now, using: &rng) == expected)
            guard case .retryAfter(let until, let error) = machine.acquire(now: now, makePending: { 0 }) else {
                Issue.record("backing off")
                return
            }
            #expect(until == now + TimeAmount(expected))
            #expect(error.code == .connectionFailed)
            now = until
        }
        guard case .connect = machine.acquire(now: now, makePending: { 0 }) else { Issue.record("connect"); return }
        let accepted = machine.connectSucceeded(FakeConnection(), for: 0)
        #expect(accepted)
        #expect(machine.backoff.failures == 0)
    }

    @Test func shutDownReturnsTheConnectionAndRefusesLaterUse() {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1)))
        _ = machine.acquire(now: t0, makePending: { 0 })
        let connection = FakeConnection()
        _ = machine.connectSucceeded(connection, for: 0)
        #expect(machine.shutDown() === connection)
        guard case .fail(let error) = machine.acquire(now: t0, makePending: { 0 }) else { Issue.record("fail"); return }
        #expect(error.code == .clientNotRunning)
    }

    @Test func connectFinishingAfterShutDownIsRejected() {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1)))
        _ = machine.acquire(now: t0, makePending: { 0 })
        let open = machine.shutDown()
        #expect(open == nil)
        let accepted = machine.connectSucceeded(FakeConnection(), for: 0)
        #expect(!accepted)
    }

    /// A dial whose slot was dropped (its broker left the cluster) and made again by a new caller does not
    /// take the new slot: the new caller's own dial does.
    @Test func anOlderDialDoesNotCompleteANewerConnect() {
        var machine = Machine(backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0))
        var rng = SplitMix64(state: 7)
        guard case .connect(2) = machine.acquire(now: t0, makePending: { 2 }) else { Issue.record("connect"); return }
        let olderSucceeded = machine.connectSucceeded(FakeConnection(), for: 1)
        #expect(!olderSucceeded)
        let olderFailedPause = machine.connectFailed(KafkaError(.connectionFailed, "refused"), for: 1, now: t0, using: &rng)
        #expect(olderFailedPause == .zero)
        guard case .wait(2) = machine.acquire(now: t0, makePending: { 3 }) else { Issue.record("still connecting"); return }
        let connection = FakeConnection()
        let newerSucceeded = machine.connectSucceeded(connection, for: 2)
        #expect(newerSucceeded)
        guard case .use(let used) = machine.acquire(now: t0, makePending: { 4 }), used === connection else { Issue.record("use"); return }
    }
}
