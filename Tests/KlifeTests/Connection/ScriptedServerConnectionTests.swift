import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Klife

/// KafkaConnection and BrokerConnectionPool against ``ScriptedKafkaServer`` over real sockets.
@Suite struct ScriptedServerConnectionTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let logger = Logger(label: "klife.tests.connection")

    func configuration(
        _ server: ScriptedKafkaServer, _ change: (inout KafkaConnectionConfiguration) -> Void = { _ in }
    ) -> KafkaConnectionConfiguration {
        var configuration = KafkaConnectionConfiguration(bootstrapServers: [server.address], connectTimeout: .seconds(30))  // generous: the unit-test process runs CPU-heavy suites beside this one
        change(&configuration)
        return configuration
    }

    func connect(_ server: ScriptedKafkaServer, _ configuration: KafkaConnectionConfiguration) async throws -> KafkaConnection {
        try await KafkaConnection.connect(
            to: server.address, brokerID: 7, configuration: configuration, eventLoopGroup: group, logger: logger
        )
    }

    func connectError(_ server: ScriptedKafkaServer, _ configuration: KafkaConnectionConfiguration) async -> KafkaError? {
        do {
            let connection = try await connect(server, configuration)
            await connection.close()
            Issue.record("connect succeeded unexpectedly")
            return nil
        } catch {
            return error as? KafkaError
        }
    }

    @Test func apiVersionsIsRetriedAndMetadataWorks() async throws {
        let server = try await ScriptedKafkaServer.start(.init(apiVersionsMax: 2), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server))
        #expect(connection.negotiatedVersion(for: ApiVersionsRequest.apiKey) == 2)
        #expect(connection.negotiatedVersion(for: MetadataRequest.apiKey) == 12)
        #expect(connection.negotiatedVersion(for: ProduceRequest.apiKey) == nil)  // not advertised
        let metadata = try await connection.send(MetadataRequest(topics: []))
        #expect(metadata.brokers.map(\.nodeId) == [7])
        // Older versions on request, pipelined.
        async let v1 = connection.send(MetadataRequest(topics: []), version: 1)
        async let v9 = connection.send(MetadataRequest(topics: []), version: 9)
        #expect(try await v1.controllerId == 7)
        #expect(try await v9.clusterId == "scripted")
        await connection.close()
        #expect(await connection.waitUntilClosed().code == .connectionClosed)
    }

    @Test func unparsableUnsupportedVersionBodyFallsBackToV0() async throws {
        let server = try await ScriptedKafkaServer.start(.init(apiVersionsMax: 2, mockStyleUnsupportedVersionBody: true), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server))
        #expect(connection.negotiatedVersion(for: ApiVersionsRequest.apiKey) == 2)
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        await connection.close()
    }

    @Test func rawFramesAndRequestsWithoutResponse() async throws {
        let server = try await ScriptedKafkaServer.start(.init(silentAPIs: [DescribeClusterRequest.apiKey]), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server))
        // The server never answers DescribeCluster: like Produce with acks=0, nothing is awaited.
        try await connection.sendWithoutResponse(DescribeClusterRequest())
        let version = try #require(connection.negotiatedVersion(for: MetadataRequest.self))
        var frame = connection.allocator.buffer(capacity: 64)
        try MetadataRequest(topics: []).encodeFrame(into: &frame, version: version, correlationID: 0, clientID: connection.clientID)
        var response = try await connection.sendFrame(frame)
        let metadata = try connection.decodeResponse(to: MetadataRequest.self, from: &response, version: version)
        #expect(metadata.controllerId == 7)
        var silentFrame = connection.allocator.buffer(capacity: 64)
        try DescribeClusterRequest().encodeFrame(into: &silentFrame, version: 0, correlationID: 0, clientID: connection.clientID)
        try await connection.sendFrameWithoutResponse(silentFrame)
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        #expect(connection.isActive)
        await connection.close()
        let late = await captureError { try await connection.sendWithoutResponse(DescribeClusterRequest()) }
        #expect(late?.code == .connectionClosed)
    }

    @Test func missingAPIIsAClearError() async throws {
        let server = try await ScriptedKafkaServer.start(.init(), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server))
        let error = await #expect(throws: KafkaError.self) {
            try await connection.send(ProduceRequest())
        }
        #expect(error?.code == .unsupportedByBroker)
        #expect(error?.message.contains("ProduceRequest") == true)
        await connection.close()
    }

    @Test(arguments: [KafkaConnectionConfiguration.SASL.Mechanism.plain, .scramSHA256, .scramSHA512])
    func saslSucceeds(_ mechanism: KafkaConnectionConfiguration.SASL.Mechanism) async throws {
        let server = try await ScriptedKafkaServer.start(.init(mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server) {
            $0.sasl = .init(mechanism: mechanism, username: "alice", password: "alice-secret")
        })
        // The server closes unauthenticated connections on Metadata, so an answer proves authentication.
        let metadata = try await connection.send(MetadataRequest(topics: []))
        #expect(metadata.clusterId == "scripted")
        await connection.close()
    }

    @Test(arguments: [KafkaConnectionConfiguration.SASL.Mechanism.plain, .scramSHA256, .scramSHA512])
    func wrongPasswordIsAnAuthenticationError(_ mechanism: KafkaConnectionConfiguration.SASL.Mechanism) async throws {
        let server = try await ScriptedKafkaServer.start(.init(mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]), group: group)
        defer { Task { await server.stop() } }
        let error = await connectError(server, configuration(server) {
            $0.sasl = .init(mechanism: mechanism, username: "alice", password: "wrong")
        })
        #expect(error?.code == .authenticationFailed)
        #expect(error?.kafkaCode == 58)
        #expect(error?.message.contains(mechanism.rawValue) == true)
        #expect(error?.isRetriable == false)
    }

    /// OAUTHBEARER end to end: the provider's token and extensions authenticate; a token the broker refuses is
    /// an authentication error with its code; a provider that fails is a retriable authentication error.
    @Test func oauthBearer() async throws {
        let server = try await ScriptedKafkaServer.start(
            .init(mechanisms: ["OAUTHBEARER"], oauthBearerExtensions: ["logicalCluster": "lkc-1"]), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server) {
            $0.sasl = .oauthBearer { KafkaOAuthBearerToken("good-token", extensions: ["logicalCluster": "lkc-1"]) }
        })
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        await connection.close()

        let refused = await connectError(server, configuration(server) {
            $0.sasl = .oauthBearer { KafkaOAuthBearerToken("expired-token", extensions: ["logicalCluster": "lkc-1"]) }
        })
        #expect(refused?.code == .authenticationFailed)
        #expect(refused?.kafkaCode == 58)
        #expect(refused?.message.contains("OAUTHBEARER") == true, "\(String(describing: refused?.message))")

        struct IdentityProviderDown: Error {}
        let failing = await connectError(server, configuration(server) {
            $0.sasl = .oauthBearer { throw IdentityProviderDown() }
        })
        #expect(failing?.code == .authenticationFailed)
        #expect(failing?.isRetriable == true)
        #expect(failing?.message.contains("token provider") == true)

        // A provider that never answers fails the attempt within the connect timeout instead of holding it.
        let started = ContinuousClock.now
        let hanging = await connectError(server, configuration(server) {
            $0.connectTimeout = .milliseconds(500)
            $0.sasl = .oauthBearer {
                try await Task.sleep(for: .seconds(3_600))
                return KafkaOAuthBearerToken("late")
            }
        })
        #expect(hanging?.code == .authenticationFailed)
        #expect(hanging?.isRetriable == true)
        #expect(hanging?.message.contains("did not answer") == true, "\(String(describing: hanging?.message))")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func mechanismNotEnabled() async throws {
        let server = try await ScriptedKafkaServer.start(.init(mechanisms: ["PLAIN"]), group: group)
        defer { Task { await server.stop() } }
        let error = await connectError(server, configuration(server) {
            $0.sasl = .init(mechanism: .scramSHA512, username: "alice", password: "alice-secret")
        })
        #expect(error?.code == .authenticationFailed)
        #expect(error?.kafkaCode == 33)
    }

    @Test func requestTimeoutIsHonoured() async throws {
        let server = try await ScriptedKafkaServer.start(.init(silentAPIs: [MetadataRequest.apiKey]), group: group)
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server))
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await connection.send(MetadataRequest(topics: []), timeout: .milliseconds(300))
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .requestTimedOut)
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(15))
        #expect(await connection.waitUntilClosed().code == .connectionClosed)
    }

    @Test func dropFailsInFlightRequests() async throws {
        let server = try await ScriptedKafkaServer.start(
            .init(silentAPIs: [MetadataRequest.apiKey], closingAPIs: [DescribeClusterRequest.apiKey]), group: group
        )
        defer { Task { await server.stop() } }
        let connection = try await connect(server, configuration(server))
        async let pending = captureError { try await connection.send(MetadataRequest(topics: [])) }
        async let closing = captureError { try await connection.send(DescribeClusterRequest()) }
        for error in [await pending, await closing] {
            #expect(error?.code == .connectionClosed)
            #expect(error?.isRetriable == true)
        }
        let later = await captureError { try await connection.send(MetadataRequest(topics: [])) }
        #expect(later?.code == .connectionClosed)
    }

    @Test func refusedConnectIsRetriable() async throws {
        let port = try ReservedPort()
        defer { port.release() }
        let address = KafkaConnectionConfiguration.BrokerAddress(host: "127.0.0.1", port: port.port)
        let error = await captureError {
            try await KafkaConnection.connect(
                to: address, configuration: .init(bootstrapServers: [address]), eventLoopGroup: group, logger: logger
            )
        }
        #expect(error?.code == .connectionFailed, "\(String(describing: error))")
        #expect(error?.isRetriable == true)
    }

    // MARK: TLS

    func tlsServer(requireClientCertificate: Bool, certificate: String = TestCertificates.serverCertificate,
                   key: String = TestCertificates.serverPrivateKey) throws -> ScriptedKafkaServer.Script {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
        )
        if requireClientCertificate {
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(TestCertificates.caCertificate.utf8)))
        }
        return ScriptedKafkaServer.Script(tls: try NIOSSLContext(configuration: tls))
    }

    @Test(arguments: ["127.0.0.1", "localhost"])
    func tlsWithCustomCA(host: String) async throws {
        let server = try await ScriptedKafkaServer.start(try tlsServer(requireClientCertificate: false), group: group)
        defer { Task { await server.stop() } }
        let ca = try TestCertificates.write(TestCertificates.caCertificate, name: "ca.pem")
        let address = KafkaConnectionConfiguration.BrokerAddress(host: host, port: server.address.port)
        let connection = try await KafkaConnection.connect(
            to: address, configuration: configuration(server) { $0.tls = .init(caCertificateFile: ca) },
            eventLoopGroup: group, logger: logger
        )
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        await connection.close()
    }

    /// Large responses are read straight into their frame buffers on plaintext connections only: with TLS the
    /// socket carries ciphertext, and the channel keeps NIO's receive allocator.
    @Test func directFrameReadsOnPlaintextOnly() async throws {
        let plain = try await ScriptedKafkaServer.start(.init(), group: group)
        defer { Task { await plain.stop() } }
        let plainConnection = try await connect(plain, configuration(plain))
        #expect(try await plainConnection.channel.getOption(.recvAllocator).get() is FrameReadAllocator)
        #expect(try await plainConnection.channel.getOption(.maxMessagesPerRead).get() == UInt(FrameReadTarget.pooledReads))
        await plainConnection.close()

        let tls = try await ScriptedKafkaServer.start(try tlsServer(requireClientCertificate: false), group: group)
        defer { Task { await tls.stop() } }
        let ca = try TestCertificates.write(TestCertificates.caCertificate, name: "ca.pem")
        let tlsConnection = try await KafkaConnection.connect(
            to: tls.address, configuration: configuration(tls) { $0.tls = .init(caCertificateFile: ca) },
            eventLoopGroup: group, logger: logger
        )
        #expect(try await !(tlsConnection.channel.getOption(.recvAllocator).get() is FrameReadAllocator))
        #expect(try await tlsConnection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        await tlsConnection.close()
    }

    @Test func tlsWithWrongCAFailsClearly() async throws {
        let server = try await ScriptedKafkaServer.start(try tlsServer(requireClientCertificate: false), group: group)
        defer { Task { await server.stop() } }
        let wrongCA = try TestCertificates.write(TestCertificates.wrongCACertificate, name: "wrong-ca.pem")
        let error = await connectError(server, configuration(server) { $0.tls = .init(caCertificateFile: wrongCA) })
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("not signed by a trusted CA") == true)
        #expect(error?.isRetriable == false)
    }

    @Test func tlsHostnameIsVerified() async throws {
        // A certificate from the trusted CA, but for other.example, not for 127.0.0.1.
        let server = try await ScriptedKafkaServer.start(
            try tlsServer(
                requireClientCertificate: false, certificate: TestCertificates.otherServerCertificate,
                key: TestCertificates.otherServerPrivateKey
            ),
            group: group
        )
        defer { Task { await server.stop() } }
        let ca = try TestCertificates.write(TestCertificates.caCertificate, name: "ca.pem")
        let error = await connectError(server, configuration(server) { $0.tls = .init(caCertificateFile: ca) })
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("not valid for the host") == true)
        // Turning hostname verification off accepts the same certificate.
        let connection = try await connect(server, configuration(server) {
            $0.tls = .init(caCertificateFile: ca, verifyHostname: false)
        })
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        await connection.close()
    }

    @Test func mutualTLS() async throws {
        let server = try await ScriptedKafkaServer.start(try tlsServer(requireClientCertificate: true), group: group)
        defer { Task { await server.stop() } }
        let ca = try TestCertificates.write(TestCertificates.caCertificate, name: "ca.pem")
        let cert = try TestCertificates.write(TestCertificates.clientCertificate, name: "client.pem")
        let key = try TestCertificates.write(TestCertificates.clientPrivateKey, name: "client.key")
        let connection = try await connect(server, configuration(server) {
            $0.tls = .init(caCertificateFile: ca, clientCertificateFile: cert, clientPrivateKeyFile: key)
        })
        #expect(try await connection.send(MetadataRequest(topics: [])).clusterId == "scripted")
        await connection.close()

        let error = await connectError(server, configuration(server) { $0.tls = .init(caCertificateFile: ca) })
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("client certificate") == true)
    }

    // MARK: Pool

    /// KIP-368: a broker that ends SASL sessions (`connections.max.reauth.ms`) announces the lifetime in
    /// SaslAuthenticate and closes the connection at the first request after it. The pool hands out a fresh
    /// connection (authenticated anew) before that, and the old one closes once idle.
    @Test func aConnectionWhoseSASLSessionEndsIsReplacedBeforeTheBrokerClosesIt() async throws {
        let server = try await ScriptedKafkaServer.start(.init(mechanisms: ["PLAIN"], sessionLifetimeMs: 3_000), group: group)
        defer { Task { await server.stop() } }
        let pool = try BrokerConnectionPool(
            configuration: configuration(server) {
                $0.sasl = .init(mechanism: .plain, username: "alice", password: "alice-secret")
            },
            eventLoopGroup: group, logger: logger
        )
        let first = try await pool.connection(to: server.address, brokerID: 7)
        #expect(first.sessionExpiry != nil)
        let again = try await pool.connection(to: server.address, brokerID: 7)
        if !first.isDueForReplacement { #expect(again === first) }  // (a very slow run may be past it already)
        let due = await waitFor(within: .seconds(15)) { first.isDueForReplacement }
        #expect(due)
        let second = try await pool.connection(to: server.address, brokerID: 7)
        #expect(second !== first)
        #expect(server.acceptedConnections == 2)
        #expect(try await second.send(MetadataRequest(topics: [])).clusterId == "scripted")
        // The retired connection had nothing outstanding: it closes by itself.
        _ = await first.waitUntilClosed()
        #expect(!first.isActive)
        await pool.shutdown()
    }

    @Test func poolReusesReconnectsAndBacksOff() async throws {
        let server = try await ScriptedKafkaServer.start(.init(closingAPIs: [DescribeClusterRequest.apiKey]), group: group)
        let pool = try BrokerConnectionPool(
            configuration: configuration(server) {
                $0.connectionsPerBroker = 2
                $0.reconnectBackoff = .milliseconds(200)
                $0.reconnectBackoffMax = .milliseconds(400)
            },
            eventLoopGroup: group, logger: logger
        )
        let address = server.address
        // Concurrent callers of an idle slot share one connect.
        async let first0 = pool.connection(to: address, brokerID: 7, slot: 0)
        async let second0 = pool.connection(to: address, brokerID: 7, slot: 0)
        let (a, a2) = try await (first0, second0)
        #expect(a === a2)
        #expect(server.acceptedConnections == 1)
        let b = try await pool.connection(to: address, slot: 1)
        #expect(a !== b)
        #expect(try await pool.connection(to: address, slot: 2) === a)
        // Round-robin over the broker's slots.
        let r1 = try await pool.connection(to: address)
        let r2 = try await pool.connection(to: address)
        #expect(r1 !== r2)
        #expect(server.acceptedConnections == 2)

        // A dropped connection is replaced on next use.
        _ = await captureError { try await a.send(DescribeClusterRequest()) }
        _ = await a.waitUntilClosed()
        let replacement = try await waitFor { try await pool.connection(to: address, slot: 0) }
        #expect(replacement !== a)
        #expect(replacement.isActive)

        // Broker gone: the first attempt fails, the next waits out the backoff before dialling again.
        // (A stopped server's port may briefly accept and reset; either way the dial fails retriably.)
        await server.stop()
        await replacement.close()
        await b.close()
        let started = ContinuousClock.now
        let first = await captureError { try await pool.connection(to: address, slot: 0) }
        #expect(first?.isRetriable == true, "\(String(describing: first))")
        let second = await captureError { try await pool.connection(to: address, slot: 0) }
        #expect(second?.isRetriable == true, "\(String(describing: second))")
        // The second dial waited for the first backoff: 200 ms ± 20 % jitter after the first failure.
        #expect(ContinuousClock.now - started >= .milliseconds(155))
        await pool.shutdown()
        let afterShutdown = await captureError { try await pool.connection(to: address) }
        #expect(afterShutdown?.code == .clientNotRunning)
    }
}

func captureError<T>(_ body: () async throws -> T) async -> KafkaError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error as? KafkaError
    }
}

/// Retries `body` until it returns an active connection or 5 s pass (the pool notices a close
/// asynchronously, on the connection's event loop).
func waitFor(_ body: () async throws -> KafkaConnection) async throws -> KafkaConnection {
    let deadline = ContinuousClock.now + .seconds(5)
    while true {
        let connection = try await body()
        if connection.isActive || ContinuousClock.now > deadline { return connection }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A 127.0.0.1 port that is bound but not listening: connecting to it is refused, and no other socket
/// can take it while it is held.
struct ReservedPort {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw KafkaError(.invalidArgument, "could not reserve a port") }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() {
        close(descriptor)
    }
}

/// Polls `condition` until it holds or `within` has passed; returns whether it held.
func waitFor(within: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + within
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}
