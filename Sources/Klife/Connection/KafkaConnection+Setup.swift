import KafkaProtocol
import Logging
import NIOCore
import Synchronization

extension KafkaConnection {
    /// Sent in ApiVersions v3+ (KIP-511).
    static let clientSoftwareName = "klife-swift"
    static let clientSoftwareVersion = "0.1.0"

    /// Runs ``ConnectionSetupStateMachine`` over the fresh channel: ApiVersions, then SASL when configured.
    /// Every step shares `deadline` (the end of the connect budget). Returns the negotiated versions and the
    /// SASL session lifetime the broker announced (0: none).
    static func performSetup(
        channel: any Channel,
        closeReason: EventLoopFuture<KafkaError>,
        deadline: NIODeadline,
        configuration: KafkaConnectionConfiguration,
        versionPolicy: KafkaAPIVersionPolicy,
        peer: String,
        logger: Logger
    ) async throws -> (versions: KafkaNegotiatedVersions, sessionLifetimeMs: Int64) {
        var oauthBearerToken: KafkaOAuthBearerToken?
        if let sasl = configuration.sasl, sasl.mechanism == .oauthBearer, let provider = sasl.oauthBearerTokenProvider {
            oauthBearerToken = try await fetchOAuthBearerToken(from: provider, deadline: deadline)
        }
        let sasl = try configuration.sasl.map { sasl throws(KafkaError) in try SASLClientStateMachine(sasl, oauthBearerToken: oauthBearerToken) }
        var machine = ConnectionSetupStateMachine(
            apiVersionsSupported: ApiVersionsRequest.validVersions,
            saslHandshakeSupported: SaslHandshakeRequest.validVersions,
            saslAuthenticateSupported: SaslAuthenticateRequest.validVersions,
            sasl: sasl,
            policy: versionPolicy,
            peer: peer
        )
        let clientID = configuration.clientID

        func exchange<R: KafkaRequestMessage>(_ request: R, version: Int16) async throws -> ByteBuffer {
            var frame = channel.allocator.buffer(capacity: 128)
            try request.encodeFrame(into: &frame, version: version, correlationID: 0, clientID: clientID)
            var response = try await roundTrip(
                channel: channel, frame: frame, deadline: deadline, peer: peer, closeReason: closeReason
            )
            do {
                _ = try KafkaResponseHeader(from: &response, headerVersion: R.responseHeaderVersion(for: version))
            } catch {
                throw KafkaError(.protocolViolation, "malformed \(R.self) response header from \(peer)", underlying: error)
            }
            return response
        }

        func decode<T>(_ what: String, _ body: () throws -> T) throws -> T {
            do {
                return try body()
            } catch {
                throw KafkaError(.protocolViolation, "could not decode the \(what) response from \(peer): \(error)", underlying: error)
            }
        }

        var action = machine.start()
        while true {
            switch action {
            case .sendApiVersions(let version):
                logger.debug("sending ApiVersions v\(version)", metadata: [KafkaLogKey.api: "18"])
                let request = ApiVersionsRequest(clientSoftwareName: clientSoftwareName, clientSoftwareVersion: clientSoftwareVersion)
                var body = try await exchange(request, version: version)
                let errorCode = body.getInteger(at: body.readerIndex, endianness: .big, as: Int16.self)
                let apiKeys: [ApiVersionsResponse.ApiVersion]
                if errorCode == ConnectionSetupStateMachine.unsupportedVersion {
                    // Kafka answers an unknown ApiVersions version with a v0 body listing its own range.
                    // Some brokers (librdkafka's mock) encode that body otherwise; then the state machine
                    // falls back to v0, which every broker knows.
                    apiKeys = (try? ApiVersionsResponse(from: &body, version: 0))?.apiKeys ?? []
                } else {
                    apiKeys = try decode("ApiVersions") { try ApiVersionsResponse(from: &body, version: version) }.apiKeys
                }
                var ranges: [Int16: ClosedRange<Int16>] = [:]
                for api in apiKeys where api.minVersion <= api.maxVersion && ranges[api.apiKey] == nil {
                    ranges[api.apiKey] = api.minVersion...api.maxVersion
                }
                let responseErrorCode = errorCode ?? 0
                action = machine.apiVersionsReceived(errorCode: responseErrorCode, brokerRanges: ranges)

            case .sendSaslHandshake(let version, let mechanism):
                logger.debug("sending SaslHandshake v\(version) for \(mechanism)", metadata: [KafkaLogKey.api: "17"])
                var body = try await exchange(SaslHandshakeRequest(mechanism: mechanism), version: version)
                let response = try decode("SaslHandshake") { try SaslHandshakeResponse(from: &body, version: version) }
                action = machine.saslHandshakeReceived(errorCode: response.errorCode, enabledMechanisms: response.mechanisms)

            case .sendSaslAuthenticate(let version, let bytes):
                logger.debug("sending SaslAuthenticate v\(version)", metadata: [KafkaLogKey.api: "36"])
                var authBytes = channel.allocator.buffer(capacity: bytes.count)
                authBytes.writeBytes(bytes)
                var body = try await exchange(SaslAuthenticateRequest(authBytes: authBytes), version: version)
                let response = try decode("SaslAuthenticate") { try SaslAuthenticateResponse(from: &body, version: version) }
                action = machine.saslAuthenticateReceived(
                    errorCode: response.errorCode, errorMessage: response.errorMessage,
                    authBytes: Array(response.authBytes.readableBytesView), sessionLifetimeMs: response.sessionLifetimeMs
                )

            case .ready(let brokerRanges, let sessionLifetimeMs):
                let versions = KafkaNegotiatedVersions(
                    brokerRanges: brokerRanges, supported: KafkaSupportedAPIs.versions, policy: versionPolicy
                )
                if logger.logLevel <= .debug {
                    let summary = KafkaSupportedAPIs.versions.keys.sorted().compactMap { key in
                        versions.version(for: key).map { "\(key):v\($0)" }
                    }
                    logger.debug("negotiated versions \(summary.joined(separator: " "))")
                }
                if sessionLifetimeMs > 0 { logger.debug("the broker ends this SASL session after \(sessionLifetimeMs) ms") }
                return (versions, sessionLifetimeMs)

            case .fail(let error):
                throw error
            }
        }
    }

    /// Asks `provider` for a token within the connect budget. A provider that fails or does not answer by
    /// `deadline` fails the connection attempt (retriable: identity providers have outages too, and the pool
    /// tries again after its backoff); one that never returns is left running rather than holding the pool.
    static func fetchOAuthBearerToken(
        from provider: @escaping KafkaConnectionConfiguration.SASL.OAuthBearerTokenProvider, deadline: NIODeadline
    ) async throws -> KafkaOAuthBearerToken {
        let token: KafkaOAuthBearerToken?
        do {
            token = try await TimeLimitedOperation.run(within: .nanoseconds(max(0, (deadline - .now()).nanoseconds))) { try await provider() }
        } catch let error as CancellationError where Task.isCancelled {
            throw error
        } catch {
            throw KafkaError(.authenticationFailed, "the OAUTHBEARER token provider failed (\(type(of: error)))", isRetriable: true, underlying: error)
        }
        guard let token else {
            throw KafkaError(.authenticationFailed, "the OAUTHBEARER token provider did not answer within the connect timeout", isRetriable: true)
        }
        return token
    }
}
