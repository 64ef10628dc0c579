import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL

extension KafkaConnection {
    /// Opens a connection to `address`: TCP (TCP_NODELAY and SO_KEEPALIVE per configuration), TLS when
    /// configured, then ApiVersions and SASL. Returns once the connection is ready for requests.
    ///
    /// - Parameters:
    ///   - brokerID: the broker's node id when known (for logs and error messages).
    ///   - versionPolicy: per-API version limits (``KafkaAPIVersionPolicy/default`` works around Tansu).
    ///   - tlsContext: a context built by ``makeTLSContext(_:)``; pass it to avoid re-reading certificate
    ///     files on every connect. When nil and `configuration.tls` is set, one is built here.
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/connectionFailed`` (TCP connect failed or timed
    ///   out; retriable), ``KafkaError/Code/tlsHandshakeFailed``, ``KafkaError/Code/authenticationFailed``,
    ///   ``KafkaError/Code/invalidConfiguration`` (TLS files), ``KafkaError/Code/connectionClosed`` (the broker
    ///   closed during setup; retriable), ``KafkaError/Code/requestTimedOut``, ``KafkaError/Code/brokerError``
    ///   or ``KafkaError/Code/protocolViolation``.
    public static func connect(
        to address: KafkaConnectionConfiguration.BrokerAddress,
        brokerID: Int32? = nil,
        configuration: KafkaConnectionConfiguration,
        versionPolicy: KafkaAPIVersionPolicy = .default,
        tlsContext: NIOSSLContext? = nil,
        eventLoopGroup: any EventLoopGroup,
        eventLoop preferredEventLoop: (any EventLoop)? = nil,
        logger: Logger
    ) async throws -> KafkaConnection {
        try await connect(
            to: address, brokerID: brokerID, configuration: configuration, versionPolicy: versionPolicy,
            tlsContext: tlsContext, eventLoopGroup: eventLoopGroup, eventLoop: preferredEventLoop,
            spareFrameBuffers: SpareFrameBuffers(), logger: logger)
    }

    /// ``connect(to:brokerID:configuration:versionPolicy:tlsContext:eventLoopGroup:eventLoop:logger:)`` with the
    /// large-response buffers the connection shares with the broker's other connections
    /// (``BrokerConnectionPool`` passes one ``SpareFrameBuffers`` per broker).
    static func connect(
        to address: KafkaConnectionConfiguration.BrokerAddress,
        brokerID: Int32?,
        configuration: KafkaConnectionConfiguration,
        versionPolicy: KafkaAPIVersionPolicy,
        tlsContext: NIOSSLContext?,
        eventLoopGroup: any EventLoopGroup,
        eventLoop preferredEventLoop: (any EventLoop)?,
        spareFrameBuffers: SpareFrameBuffers,
        logger: Logger
    ) async throws -> KafkaConnection {
        var logger = logger
        logger[metadataKey: KafkaLogKey.brokerHost] = "\(address)"
        if let brokerID { logger[metadataKey: KafkaLogKey.brokerID] = "\(brokerID)" }
        let peer = brokerID.map { "broker \($0) (\(address))" } ?? "broker \(address)"

        // One budget for TCP connect, TLS, ApiVersions and SASL together.
        let deadline = NIODeadline.now() + TimeAmount(configuration.connectTimeout)
        let tlsContext = try configuration.tls.map { tls in try tlsContext ?? makeTLSContext(tls) }
        let eventLoop = preferredEventLoop ?? eventLoopGroup.next()
        let closeReason = eventLoop.makePromise(of: KafkaError.self)
        let maxFrameBytes = configuration.maxFrameBytes
        let handlerLogger = logger
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: configuration.tcpNoDelay ? 1 : 0)
            .channelOption(.socketOption(.so_keepalive), value: configuration.keepAlive ? 1 : 0)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tlsContext {
                        // An IP address cannot go into SNI; NIOSSL then checks the certificate against the
                        // peer's IP address instead.
                        let isIPAddress = (try? SocketAddress(ipAddress: address.host, port: 0)) != nil
                        try pipeline.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: isIPAddress ? nil : address.host)
                        )
                    }
                    // Plaintext only: with TLS the socket carries ciphertext, which NIOSSL decrypts into its
                    // own buffers.
                    let readTarget = tlsContext == nil ? FrameReadTarget() : nil
                    if let readTarget { try Self.readIntoFrames(channel, readTarget) }
                    try pipeline.addHandler(
                        KafkaFrameHandler(maxFrameBytes: maxFrameBytes, spareFrameBuffers: spareFrameBuffers, readTarget: readTarget)
                    )
                    try pipeline.addHandler(KafkaChannelHandler(peer: peer, logger: handlerLogger, closeReason: closeReason))
                }
            }

        let channel: any Channel
        do {
            logger.debug("connecting")
            channel = try await bootstrap.connect(host: address.host, port: address.port).get()
        } catch {
            let failure = KafkaError(
                .connectionFailed, "could not connect to \(peer): \(error)", isRetriable: true, underlying: error
            )
            closeReason.succeed(failure)  // the handler never existed; complete the promise ourselves
            logger.debug("connect failed: \(error)")
            throw failure
        }

        do {
            let authenticated = NIODeadline.now()
            let (versions, sessionLifetimeMs) = try await performSetup(
                channel: channel, closeReason: closeReason.futureResult, deadline: deadline, configuration: configuration, versionPolicy: versionPolicy, peer: peer, logger: logger
            )
            logger.info("connected")
            return KafkaConnection(
                address: address, brokerID: brokerID, versions: versions, requestTimeout: configuration.requestTimeout,
                clientID: configuration.clientID, channel: channel, logger: logger, closeReason: closeReason.futureResult,
                peer: peer,
                sessionExpiry: sessionLifetimeMs > 0 ? authenticated + .milliseconds(sessionLifetimeMs) : nil
            )
        } catch {
            try? await channel.close()
            let kafkaError = KafkaChannelHandler.classify(error, peer: peer)
            logger.debug("connection setup failed: \(kafkaError.message)")
            throw kafkaError
        }
    }
}

extension KafkaConnection {
    /// Makes the socket read large response frames straight into their buffers (``FrameReadAllocator``).
    /// The pool of receive buffers must hold exactly ``FrameReadTarget/pooledReads`` of them, hence
    /// `maxMessagesPerRead`.
    static func readIntoFrames(_ channel: any Channel, _ target: FrameReadTarget) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(.maxMessagesPerRead, value: UInt(FrameReadTarget.pooledReads))
        try options.setOption(.recvAllocator, value: FrameReadAllocator(target: target))
    }
}
