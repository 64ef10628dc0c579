import Crypto
import CryptoExtras
import KafkaProtocol
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

@testable import Klife

/// A Kafka broker impostor in the test process: answers ApiVersions, SaslHandshake, SaslAuthenticate
/// (PLAIN and SCRAM, with the real server-side checks) and Metadata from a script, so the connection
/// setup can be exercised end to end without a SASL-capable broker.
final class ScriptedKafkaServer: Sendable {
    struct Script: Sendable {
        /// Highest ApiVersions version "known": higher requests get UNSUPPORTED_VERSION with a v0 body.
        var apiVersionsMax: Int16 = 3
        /// Advertised ranges (ApiVersions' own entry is added from `apiVersionsMax`).
        var advertised: [Int16: ClosedRange<Int16>] = [3: 0...12, 17: 0...1, 36: 0...2, 60: 0...1]
        /// SASL mechanisms enabled; empty = no SASL required.
        var mechanisms: [String] = []
        var username = "alice"
        var password = "alice-secret"
        var scramIterations = 4096
        /// Requests with these API keys are never answered.
        var silentAPIs: Set<Int16> = []
        /// Requests with these API keys make the server close the connection.
        var closingAPIs: Set<Int16> = []
        var tls: NIOSSLContext?
        /// Answer an unknown ApiVersions version the way librdkafka's mock cluster does (a body that is
        /// not v0), instead of Kafka's v0 body.
        var mockStyleUnsupportedVersionBody = false
        /// SaslAuthenticate's `session_lifetime_ms` on success (KIP-368); after it, the next request closes
        /// the connection, as Kafka does with `connections.max.reauth.ms`. 0: no limit.
        var sessionLifetimeMs: Int64 = 0
        /// OAUTHBEARER: the token accepted, and the extensions it must come with.
        var oauthBearerToken = "good-token"
        var oauthBearerExtensions: [String: String] = [:]
    }

    let channel: any Channel
    let script: Script
    private let accepted: ConnectionCounter

    /// Number of connections accepted so far.
    var acceptedConnections: Int { accepted.count.withLock { $0 } }

    var address: KafkaConnectionConfiguration.BrokerAddress {
        KafkaConnectionConfiguration.BrokerAddress(host: "127.0.0.1", port: channel.localAddress!.port!)
    }

    private init(channel: any Channel, script: Script, accepted: ConnectionCounter) {
        self.channel = channel
        self.script = script
        self.accepted = accepted
    }

    static func start(_ script: Script, group: any EventLoopGroup) async throws -> ScriptedKafkaServer {
        let accepted = ConnectionCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    accepted.count.withLock { $0 += 1 }
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = script.tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                    try pipeline.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20)))
                    try pipeline.addHandler(ScriptedKafkaHandler(script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedKafkaServer(channel: channel, script: script, accepted: accepted)
    }

    func stop() async {
        try? await channel.close()
    }
}

final class ConnectionCounter: Sendable {
    let count = Mutex(0)
}

final class ScriptedKafkaHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let script: Script
    typealias Script = ScriptedKafkaServer.Script
    private var authenticated: Bool
    private var sessionEnds: NIODeadline?
    private var mechanism: String?
    /// SCRAM: client-first-bare, server-first, and the salt/iterations in use.
    private var scramState: (clientFirstBare: String, serverFirst: String, nonce: String)?
    /// OAUTHBEARER: an error challenge was sent; the client's 0x01 gets the failure.
    private var oauthBearerRefused = false
    private let salt: [UInt8] = Array("klife-test-salt!".utf8)

    init(script: Script) {
        self.script = script
        self.authenticated = script.mechanisms.isEmpty
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        do {
            try handle(context: context, frame: &frame)
        } catch {
            context.close(promise: nil)
        }
    }

    private func handle(context: ChannelHandlerContext, frame: inout ByteBuffer) throws {
        let apiKey = frame.getInteger(at: frame.readerIndex, as: Int16.self)!
        let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self)!
        if script.silentAPIs.contains(apiKey) { return }
        if script.closingAPIs.contains(apiKey) {
            context.close(promise: nil)
            return
        }
        switch apiKey {
        case ApiVersionsRequest.apiKey:
            if version > script.apiVersionsMax {
                // Kafka's answer to an unknown ApiVersions version: header v0, v0 body, error 35.
                let header = try KafkaRequestHeader(from: &frame, headerVersion: 1)
                if script.mockStyleUnsupportedVersionBody {
                    var buffer = context.channel.allocator.buffer(capacity: 32)
                    buffer.writeInteger(Int32(17))
                    buffer.writeInteger(header.correlationID)
                    buffer.writeBytes([0x00, 0x23, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, script.apiVersionsMax.lowByte, 0, 0, 0, 0])
                    context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                    return
                }
                let response = ApiVersionsResponse(
                    errorCode: 35, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: script.apiVersionsMax)]
                )
                try write(context, response, version: 0, headerVersion: 0, correlationID: header.correlationID)
                return
            }
            let (header, _) = try decode(ApiVersionsRequest.self, &frame, version: version)
            var apis = script.advertised
            apis[18] = 0...script.apiVersionsMax
            let response = ApiVersionsResponse(
                apiKeys: apis.sorted { $0.key < $1.key }.map { .init(apiKey: $0.key, minVersion: $0.value.lowerBound, maxVersion: $0.value.upperBound) }
            )
            try reply(context, ApiVersionsRequest.self, response, version: version, header: header)
        case SaslHandshakeRequest.apiKey:
            let (header, request) = try decode(SaslHandshakeRequest.self, &frame, version: version)
            let enabled = script.mechanisms.contains(request.mechanism)
            if enabled { mechanism = request.mechanism }
            try reply(
                context, SaslHandshakeRequest.self,
                SaslHandshakeResponse(errorCode: enabled ? 0 : 33, mechanisms: script.mechanisms), version: version, header: header
            )
        case SaslAuthenticateRequest.apiKey:
            let (header, request) = try decode(SaslAuthenticateRequest.self, &frame, version: version)
            var response = authenticate(Array(request.authBytes.readableBytesView))
            if authenticated, script.sessionLifetimeMs > 0 {
                response.sessionLifetimeMs = script.sessionLifetimeMs
                sessionEnds = .now() + .milliseconds(script.sessionLifetimeMs)
            }
            try reply(context, SaslAuthenticateRequest.self, response, version: version, header: header)
            if response.errorCode != 0 { context.close(promise: nil) }
        case MetadataRequest.apiKey:
            if let sessionEnds, NIODeadline.now() >= sessionEnds {
                context.close(promise: nil)  // as Kafka does after connections.max.reauth.ms
                return
            }
            guard authenticated else {
                context.close(promise: nil)  // as Kafka does for unauthenticated requests
                return
            }
            let (header, _) = try decode(MetadataRequest.self, &frame, version: version)
            let response = MetadataResponse(
                brokers: [.init(nodeId: 7, host: "127.0.0.1", port: 9092, rack: nil)], clusterId: "scripted", controllerId: 7
            )
            try reply(context, MetadataRequest.self, response, version: version, header: header)
        default:
            context.close(promise: nil)
        }
    }

    // MARK: SASL, server side

    private func authenticate(_ bytes: [UInt8]) -> SaslAuthenticateResponse {
        func failure(_ message: String) -> SaslAuthenticateResponse {
            SaslAuthenticateResponse(errorCode: 58, errorMessage: message)
        }
        func success(_ reply: String) -> SaslAuthenticateResponse {
            var buffer = ByteBuffer()
            buffer.writeString(reply)
            return SaslAuthenticateResponse(authBytes: buffer)
        }
        switch mechanism {
        case "PLAIN":
            let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard parts.count == 3, parts[1] == script.username, parts[2] == script.password else {
                return failure("Authentication failed: Invalid username or password")
            }
            authenticated = true
            return success("")
        case "SCRAM-SHA-256", "SCRAM-SHA-512":
            let message = String(decoding: bytes, as: UTF8.self)
            let sha512 = mechanism == "SCRAM-SHA-512"
            if let state = scramState {
                return scramFinal(message, state: state, sha512: sha512)
            }
            guard message.hasPrefix("n,,") else { return failure("bad gs2 header") }
            let bare = String(message.dropFirst(3))
            let attributes = SCRAMClient.parse(bare)
            guard attributes["n"] == script.username, let clientNonce = attributes["r"] else {
                return failure("Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism!)")
            }
            let nonce = clientNonce + "server-nonce-0123456789"
            let serverFirst = "r=\(nonce),s=\(Base64.encode(salt)),i=\(script.scramIterations)"
            scramState = (bare, serverFirst, nonce)
            return success(serverFirst)
        case "OAUTHBEARER":
            // As Kafka's server: a bad token gets an error challenge, and the client's lone 0x01 the failure.
            if oauthBearerRefused { return failure("Authentication failed: invalid_token") }
            let parts = bytes.split(separator: 0x01, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
            var keys: [String: String] = [:]
            for part in parts.dropFirst() {
                guard let equals = part.firstIndex(of: "=") else { continue }
                keys[String(part[..<equals])] = String(part[part.index(after: equals)...])
            }
            let auth = keys.removeValue(forKey: "auth")
            guard parts.first == "n,,", auth == "Bearer \(script.oauthBearerToken)", keys == script.oauthBearerExtensions else {
                oauthBearerRefused = true
                return success(#"{"status":"invalid_token"}"#)
            }
            authenticated = true
            return success("")
        default:
            return SaslAuthenticateResponse(errorCode: 34, errorMessage: "no handshake")
        }
    }

    private func scramFinal(
        _ message: String, state: (clientFirstBare: String, serverFirst: String, nonce: String), sha512: Bool
    ) -> SaslAuthenticateResponse {
        let invalid = SaslAuthenticateResponse(
            errorCode: 58,
            errorMessage: "Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism!)"
        )
        guard let proofRange = message.range(of: ",p=") else { return invalid }
        let withoutProof = String(message[..<proofRange.lowerBound])
        guard let proof = Base64.decode(message[proofRange.upperBound...]),
            SCRAMClient.parse(withoutProof)["r"] == state.nonce
        else { return invalid }
        let authMessage = Array("\(state.clientFirstBare),\(state.serverFirst),\(withoutProof)".utf8)
        let salted = try! KDF.Insecure.PBKDF2.deriveKey(
            from: Array(script.password.utf8), salt: salt, using: sha512 ? .sha512 : .sha256,
            outputByteCount: sha512 ? 64 : 32, unsafeUncheckedRounds: script.scramIterations
        ).withUnsafeBytes { Array($0) }
        func hmac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
            sha512
                ? Array(HMAC<SHA512>.authenticationCode(for: data, using: SymmetricKey(data: key)))
                : Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
        }
        func hash(_ data: [UInt8]) -> [UInt8] { sha512 ? Array(SHA512.hash(data: data)) : Array(SHA256.hash(data: data)) }
        let storedKey = hash(hmac(salted, Array("Client Key".utf8)))
        let clientSignature = hmac(storedKey, authMessage)
        guard proof.count == clientSignature.count else { return invalid }
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard hash(clientKey) == storedKey else { return invalid }
        authenticated = true
        let serverSignature = hmac(hmac(salted, Array("Server Key".utf8)), authMessage)
        var buffer = ByteBuffer()
        buffer.writeString("v=\(Base64.encode(serverSignature))")
        return SaslAuthenticateResponse(authBytes: buffer)
    }

    // MARK: Codec helpers

    private func decode<R: KafkaRequestMessage>(_: R.Type, _ frame: inout ByteBuffer, version: Int16) throws -> (KafkaRequestHeader, R) {
        let header = try KafkaRequestHeader(from: &frame, headerVersion: R.requestHeaderVersion(for: version))
        return (header, try R(from: &frame, version: version))
    }

    private func reply<R: KafkaRequestMessage>(
        _ context: ChannelHandlerContext, _: R.Type, _ response: R.Response, version: Int16, header: KafkaRequestHeader
    ) throws {
        try write(context, response, version: version, headerVersion: R.responseHeaderVersion(for: version), correlationID: header.correlationID)
    }

    private func write<M: KafkaMessage>(
        _ context: ChannelHandlerContext, _ message: M, version: Int16, headerVersion: Int16, correlationID: Int32
    ) throws {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeInteger(Int32(0))
        KafkaResponseHeader(correlationID: correlationID).encode(into: &buffer, headerVersion: headerVersion)
        try message.encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: 0)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}

extension Int16 {
    fileprivate var lowByte: UInt8 { UInt8(truncatingIfNeeded: self) }
}
