import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A client of scripts/mock_cluster.py's control port: one command line per TCP connection, one reply line
/// (`ok …` or `err …`). Blocking socket I/O runs on a Dispatch queue, never on the cooperative pool.
struct MockClusterControl: Sendable {
    let host: String
    let port: Int

    /// The harness `make test` started (`KLIFE_MOCK_CONTROL`).
    static func fromEnvironment() throws -> MockClusterControl {
        let (host, port) = try TestBrokers.hostAndPort(try TestBrokers.mockControl)
        return MockClusterControl(host: host, port: port)
    }

    /// The harness answered `err …`.
    struct CommandFailed: Error, CustomStringConvertible {
        let command: String
        let reply: String
        var description: String { "mock cluster command `\(command)` failed: \(reply)" }
    }

    struct SocketError: Error, CustomStringConvertible {
        let what: String
        let errno: Int32
        var description: String { "mock cluster control: \(what) failed: \(String(cString: strerror(errno)))" }
    }

    /// Sends `command` and returns the reply's words after `ok`; throws ``CommandFailed`` on `err`.
    @discardableResult
    func send(_ command: String) async throws -> [String] {
        let reply = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try exchange(command) })
            }
        }
        var words = reply.split(separator: " ").map(String.init)
        guard words.first == "ok" else { throw CommandFailed(command: command, reply: reply) }
        words.removeFirst()
        return words
    }

    private func exchange(_ command: String) throws -> String {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SocketError(what: "socket", errno: errno) }
        defer { close(fd) }
        // Generous: destroying a cluster or an RTT-delayed operation can take a few seconds.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw SocketError(what: "inet_pton(\(host))", errno: EINVAL)
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw SocketError(what: "connect to \(host):\(port)", errno: errno) }

        var bytes = Array((command + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { throw SocketError(what: "write", errno: errno) }
            sent += n
        }
        bytes.removeAll()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !bytes.contains(UInt8(ascii: "\n")) {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n == 0 { break }
            guard n > 0 else { throw SocketError(what: "read", errno: errno) }
            bytes += buffer[..<n]
        }
        let line = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first ?? []
        return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }
}

/// A librdkafka mock cluster of the test's own, hosted by the harness `make test` started.
///
/// ```swift
/// let cluster = try await MockCluster.create(brokers: 3)
/// try await cluster.createTopic("orders", partitions: 3, replicationFactor: 3)
/// try await cluster.setLeader(topic: "orders", partition: 0, broker: 2)
/// try await cluster.down(broker: 2)
/// try await cluster.destroy()
/// ```
/// Broker ids are 1…N; ``brokerAddresses``[i] is broker i+1. Destroy the cluster at the end of the test
/// (the harness frees every cluster when `make test` stops it anyway).
struct MockCluster: Sendable {
    let control: MockClusterControl
    /// The cluster id inside the harness.
    let id: Int
    /// Comma-separated bootstrap list, e.g. "127.0.0.1:41001,127.0.0.1:41002,127.0.0.1:41003".
    let bootstrap: String

    var brokerAddresses: [String] { bootstrap.split(separator: ",").map(String.init) }

    /// Creates a fresh cluster with `brokers` brokers (1…32).
    static func create(brokers: Int = 3, control: MockClusterControl? = nil) async throws -> MockCluster {
        let control = try control ?? .fromEnvironment()
        let reply = try await control.send("new \(brokers)")
        guard reply.count == 2, let id = Int(reply[0]) else {
            throw MockClusterControl.CommandFailed(command: "new \(brokers)", reply: reply.joined(separator: " "))
        }
        return MockCluster(control: control, id: id, bootstrap: reply[1])
    }

    /// Who a coordinator is looked up for.
    enum CoordinatorType: String, Sendable {
        case group
        case transaction
    }

    /// Creates `topic` (the mock brokers do not implement CreateTopics).
    func createTopic(_ topic: String, partitions: Int, replicationFactor: Int = 1) async throws {
        try await control.send("topic \(id) \(topic) \(partitions) \(replicationFactor)")
    }

    /// Moves the leader of `topic`/`partition` to `broker` (-1: no leader).
    func setLeader(topic: String, partition: Int32, broker: Int32) async throws {
        try await control.send("leader \(id) \(topic) \(partition) \(broker)")
    }

    /// Sets the preferred follower replica of `topic`/`partition`.
    func setFollower(topic: String, partition: Int32, broker: Int32) async throws {
        try await control.send("follower \(id) \(topic) \(partition) \(broker)")
    }

    /// Disconnects `broker`'s clients and refuses new connections (-1: every broker). Leaders do not move.
    func down(broker: Int32) async throws { try await control.send("down \(id) \(broker)") }

    /// Makes `broker` accept connections again (-1: every broker).
    func up(broker: Int32) async throws { try await control.send("up \(id) \(broker)") }

    /// Delays every response of `broker` by `milliseconds` (-1: every broker).
    func setRTT(broker: Int32, milliseconds: Int) async throws {
        try await control.send("rtt \(id) \(broker) \(milliseconds)")
    }

    /// The next `codes.count` requests with `apiKey`, on any broker, fail with these error codes in order.
    /// librdkafka's -195 (`_TRANSPORT`) makes the broker close the connection instead.
    func pushErrors(apiKey: Int16, codes: [Int16]) async throws {
        try await control.send("errors \(id) \(apiKey) \(codes.map(String.init).joined(separator: ","))")
    }

    /// Forgets pushed errors for `apiKey`.
    func clearErrors(apiKey: Int16) async throws { try await control.send("clear-errors \(id) \(apiKey)") }

    /// Per-broker stack of (error code, response delay) for the next `apiKey` requests to `broker`; takes
    /// precedence over ``pushErrors(apiKey:codes:)``. Code 0 with a delay just slows the response.
    func pushBrokerErrors(broker: Int32, apiKey: Int16, errors: [(code: Int16, rttMilliseconds: Int)]) async throws {
        let list = errors.map { "\($0.code):\($0.rttMilliseconds)" }.joined(separator: ",")
        try await control.send("broker-errors \(id) \(broker) \(apiKey) \(list)")
    }

    /// Makes Metadata report `code` for `topic`.
    func setTopicError(topic: String, code: Int16) async throws {
        try await control.send("topic-error \(id) \(topic) \(code)")
    }

    /// Pins the coordinator of a group or transactional id to `broker`.
    func setCoordinator(_ type: CoordinatorType, key: String, broker: Int32) async throws {
        try await control.send("coordinator \(id) \(type.rawValue) \(key) \(broker)")
    }

    /// Restricts the versions the brokers advertise for `apiKey` (-1, -1 disables the API).
    func setApiVersion(apiKey: Int16, min: Int16, max: Int16) async throws {
        try await control.send("apiversion \(id) \(apiKey) \(min) \(max)")
    }

    /// group.initial.rebalance.delay.ms of the cluster's group coordinator.
    func setInitialRebalanceDelay(milliseconds: Int) async throws {
        try await control.send("rebalance-delay \(id) \(milliseconds)")
    }

    /// Shuts the cluster down; its ports stop answering.
    func destroy() async throws { try await control.send("destroy \(id)") }
}
