import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One TCP (optionally TLS) connection to one broker, with ApiVersions negotiated and SASL done.
///
/// Requests are pipelined: any number may be outstanding, the broker answers them in order, and each
/// caller gets its own response back. Every method may be called from any task concurrently. When the
/// connection drops, every outstanding request fails with ``KafkaError/Code/connectionClosed``
/// (retriable) and later requests fail the same way; a connection never reconnects by itself
/// (``BrokerConnectionPool`` does that).
///
/// Cancelling a task that awaits a response does not withdraw the request: it stays on the wire and the
/// call returns when the response, the timeout or the connection's end arrives.
public final class KafkaConnection: Sendable {
    /// The address dialled.
    public let address: KafkaConnectionConfiguration.BrokerAddress
    /// The broker's node id, nil for a bootstrap connection whose id is not known yet.
    public let brokerID: Int32?
    /// What the broker advertised and the version chosen per API.
    public let versions: KafkaNegotiatedVersions
    /// Default timeout of a request (``KafkaConnectionConfiguration/requestTimeout``).
    public let requestTimeout: Duration
    /// The client id this connection writes into request headers (encode raw frames with it).
    public let clientID: String
    let channel: any Channel
    let logger: Logger
    /// Completed (never failed) when the channel has closed, with the reason.
    let closeReason: EventLoopFuture<KafkaError>
    /// Names the broker in error messages.
    let peer: String
    /// The client's metrics, looked up once (not per request).
    let metrics: KafkaMetrics
    /// Large request-frame buffers the socket has finished with, for the next Produce frame.
    let frameBuffers = FrameBufferRecycler()
    /// Whether the last fetch response with records decoded for this broker (on this connection or one of
    /// its fetch lanes) held uncompressed batches only. Only then does a fetch call spread its requests to
    /// the broker over fetch lanes (see ``FetchExecutor``). Compressed responses stay on this one
    /// connection: answered one after the other, each response's frame is freed once its batches are
    /// decompressed and the next response reuses that memory (on lanes, p8 lz4 took 5 MB more RSS).
    let lastFetchWasUncompressed = Atomic<Bool>(false)
    /// Fetch requests sent on this connection whose response is not yet decoded: a fetch goes on a lane
    /// with none in flight (see ``FetchExecutor``), so concurrent fetch calls to one broker run in parallel.
    let fetchesInFlight = Atomic<Int>(0)
    /// Fetch requests ever sent on this connection (diagnostics and tests: which lanes carried fetches).
    let fetchesSent = Atomic<Int>(0)

    init(
        address: KafkaConnectionConfiguration.BrokerAddress, brokerID: Int32?, versions: KafkaNegotiatedVersions,
        requestTimeout: Duration, clientID: String, channel: any Channel, logger: Logger,
        closeReason: EventLoopFuture<KafkaError>, peer: String, sessionExpiry: NIODeadline? = nil
    ) {
        self.sessionExpiry = sessionExpiry
        // Replaced at 85-95 % of the session, as Kafka's Java client re-authenticates: spread so the
        // connections of one client do not all redial at once.
        self.replaceAfter = sessionExpiry.map { expiry in
            let lifetime = expiry - NIODeadline.now()
            return .now() + .nanoseconds(lifetime.nanoseconds / 100 * Int64.random(in: 85...95))
        }
        self.address = address
        self.brokerID = brokerID
        self.versions = versions
        self.requestTimeout = requestTimeout
        self.clientID = clientID
        self.channel = channel
        self.logger = logger
        self.closeReason = closeReason
        self.peer = peer
        self.metrics = KafkaMetrics.forClient(clientID)
    }

    /// When the broker ends this connection's SASL session (KIP-368 `connections.max.reauth.ms`): a request
    /// after it makes the broker close the connection. nil: no limit.
    let sessionExpiry: NIODeadline?
    /// When the pool stops handing this connection out and dials a replacement (before ``sessionExpiry``).
    let replaceAfter: NIODeadline?

    /// Whether the pool should replace this connection now (its SASL session is about to end).
    var isDueForReplacement: Bool {
        guard let replaceAfter else { return false }
        return NIODeadline.now() >= replaceAfter
    }

    /// Takes this connection out of use: it closes once its outstanding requests are answered, or when its
    /// SASL session ends, whichever comes first. Requests sent on it meanwhile still work.
    func retire() {
        channel.eventLoop.execute { [channel, sessionExpiry] in
            channel.triggerUserOutboundEvent(KafkaChannelHandler.Retire(closeAt: sessionExpiry), promise: nil)
        }
    }

    /// The event loop of this connection's channel.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// An allocator for frames passed to ``sendFrame(_:timeout:)``.
    public var allocator: ByteBufferAllocator { channel.allocator }

    /// Whether the channel is still open. A true value can turn false at any moment.
    public var isActive: Bool { channel.isActive }

    /// The version this connection uses for `apiKey`, nil when the broker lacks the API (or no version
    /// both sides support passes the ``KafkaAPIVersionPolicy``).
    public func negotiatedVersion(for apiKey: Int16) -> Int16? {
        versions.version(for: apiKey)
    }

    /// The version this connection uses for request type `R`, nil when unusable.
    public func negotiatedVersion<R: KafkaRequestMessage>(for type: R.Type) -> Int16? {
        versions.version(for: type)
    }

    // MARK: Requests

    /// Sends `request` and waits for its response.
    ///
    /// - Parameters:
    ///   - version: the version to encode; nil uses the negotiated one.
    ///   - timeout: nil uses ``requestTimeout``. When it expires the connection is closed.
    ///   - clientID: the client id of this request's header; nil uses the connection's ``clientID`` (a fetcher
    ///     names itself, as a producer does).
    ///
    /// A response that does not decode closes the connection before the error is thrown (see
    /// ``decodeResponse(to:from:version:)``).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/unsupportedByBroker`` (no usable version),
    ///   ``KafkaError/Code/protocolViolation`` (encoding or decoding failed, or a correlation mismatch),
    ///   ``KafkaError/Code/requestTimedOut``, ``KafkaError/Code/connectionClosed``,
    ///   ``KafkaError/Code/tlsHandshakeFailed``, ``KafkaError/Code/frameTooLarge``.
    public func send<R: KafkaRequestMessage>(
        _ request: R, version: Int16? = nil, timeout: Duration? = nil, clientID: String? = nil
    ) async throws -> R.Response {
        let version = try resolveVersion(R.self, version)
        let frame = try encode(request, version: version, clientID: clientID ?? self.clientID)
        var response = try await sendFrame(frame, timeout: timeout)
        do {
            let decoded = try Self.decodeResponse(R.self, from: &response, version: version, peer: peer)
            noteThrottle(of: decoded, apiKey: R.apiKey, version: version)
            return decoded
        } catch {
            // Closed before the caller hears of it, so that a retry is never handed this connection again.
            logger.warning("closing the connection after an undecodable response", metadata: [KafkaLogKey.brokerHost: "\(address)", "kafka.error": "\(error)"])
            await close()
            throw error
        }
    }

    /// Sends `request` without waiting for a response (Produce with acks=0); returns when the bytes
    /// have been handed to the socket.
    ///
    /// - Throws: ``KafkaError`` as ``send(_:version:timeout:clientID:)``, except the timeout.
    public func sendWithoutResponse<R: KafkaRequestMessage>(_ request: R, version: Int16? = nil) async throws {
        let version = try resolveVersion(R.self, version)
        try await sendFrameWithoutResponse(try encode(request, version: version, clientID: clientID))
    }

    /// Sends an already encoded request frame (int32 size, header, body; the correlation id at bytes
    /// 8..<12 is overwritten) and returns the response frame without its size prefix: it starts with
    /// the response header (correlation id, then tagged fields for flexible versions).
    ///
    /// - Throws: ``KafkaError`` (``KafkaError/Code/requestTimedOut``, ``KafkaError/Code/connectionClosed``,
    ///   ``KafkaError/Code/tlsHandshakeFailed``, ``KafkaError/Code/frameTooLarge``,
    ///   ``KafkaError/Code/protocolViolation``).
    public func sendFrame(_ frame: ByteBuffer, timeout: Duration? = nil) async throws -> ByteBuffer {
        try await timedRequest(frame) { try await sendFrameUntimed(frame, timeout: timeout) }
    }

    private func sendFrameUntimed(_ frame: ByteBuffer, timeout: Duration?) async throws -> ByteBuffer {
        try await Self.roundTrip(
            channel: channel, frame: frame, deadline: .now() + TimeAmount(timeout ?? requestTimeout), peer: peer,
            closeReason: closeReason
        )
    }

    /// Sends an already encoded request frame that expects no response.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/connectionClosed`` (or the error the
    ///   connection closed with).
    public func sendFrameWithoutResponse(_ frame: ByteBuffer) async throws {
        let request = KafkaOutboundRequest(frame: frame, deadline: .distantFuture, responsePromise: nil)
        do {
            try await channel.writeAndFlush(request).get()
        } catch {
            let writeError = KafkaChannelHandler.classify(error, peer: peer)
            guard writeError.code == .connectionClosed else { throw writeError }
            throw (try? await closeReason.get()) ?? writeError
        }
    }

    // MARK: Closing

    /// Closes the connection; outstanding requests fail with ``KafkaError/Code/connectionClosed``.
    /// Returns when the channel is closed.
    public func close() async {
        channel.close(mode: .all, promise: nil)
        _ = try? await closeReason.get()
    }

    /// Waits until the connection has closed and returns why (code ``KafkaError/Code/connectionClosed``
    /// when it was closed by ``close()`` or by the broker, else the error that closed it).
    public func waitUntilClosed() async -> KafkaError {
        do {
            return try await closeReason.get()
        } catch {
            return KafkaChannelHandler.classify(error, peer: peer)
        }
    }

    /// Calls `body` on the connection's event loop once it has closed, with the reason.
    public func onClose(_ body: @escaping @Sendable (KafkaError) -> Void) {
        closeReason.whenSuccess(body)
    }

    // MARK: Helpers

    private func resolveVersion<R: KafkaRequestMessage>(_: R.Type, _ version: Int16?) throws -> Int16 {
        if let version { return version }
        if let version = versions.version(for: R.self) { return version }
        throw KafkaError(
            .unsupportedByBroker,
            "\(peer) offers no usable version of \(R.self) (api key \(R.apiKey); broker advertises "
                + "\(versions.brokerRanges[R.apiKey].map { "\($0)" } ?? "nothing"), we support \(R.validVersions))"
        )
    }

    private func encode<R: KafkaRequestMessage>(_ request: R, version: Int16, clientID: String) throws -> ByteBuffer {
        var frame = channel.allocator.buffer(capacity: 256)
        do {
            try request.encodeFrame(into: &frame, version: version, correlationID: 0, clientID: clientID)
        } catch {
            throw KafkaError(.protocolViolation, "could not encode \(R.self) v\(version): \(error)", underlying: error)
        }
        return frame
    }

    /// Decodes a response frame returned by ``sendFrame(_:timeout:)`` for a request of type `R` sent at
    /// `version`: the response header, then the body.
    ///
    /// A response that does not decode closes the connection: the broker and we disagree about the
    /// protocol, so nothing else it sends on this connection can be trusted (outstanding requests fail
    /// with ``KafkaError/Code/connectionClosed``; the pool dials a fresh connection next time).
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/protocolViolation``.
    public func decodeResponse<R: KafkaRequestMessage>(
        to type: R.Type, from frame: inout ByteBuffer, version: Int16
    ) throws -> R.Response {
        do {
            let decoded = try Self.decodeResponse(type, from: &frame, version: version, peer: peer)
            noteThrottle(of: decoded, apiKey: R.apiKey, version: version)
            return decoded
        } catch {
            logger.warning("closing the connection after an undecodable response", metadata: [KafkaLogKey.brokerHost: "\(address)", "kafka.error": "\(error)"])
            channel.close(mode: .all, promise: nil)
            throw error
        }
    }

    static func decodeResponse<R: KafkaRequestMessage>(
        _: R.Type, from frame: inout ByteBuffer, version: Int16, peer: String
    ) throws -> R.Response {
        do {
            _ = try KafkaResponseHeader(from: &frame, headerVersion: R.responseHeaderVersion(for: version))
            return try R.Response(from: &frame, version: version)
        } catch {
            throw KafkaError(
                .protocolViolation, "could not decode \(R.Response.self) v\(version) from \(peer): \(error)", underlying: error
            )
        }
    }

    /// Writes `frame` and waits for its response.
    ///
    /// A write that fails because the channel already closed never reaches the handler; the request then
    /// fails with the reason the connection closed (a TLS failure, say), not a generic "closed".
    static func roundTrip(
        channel: any Channel, frame: ByteBuffer, deadline: NIODeadline, peer: String, closeReason: EventLoopFuture<KafkaError>
    ) async throws -> ByteBuffer {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        channel.writeAndFlush(KafkaOutboundRequest(frame: frame, deadline: deadline, responsePromise: promise))
            .whenFailure { error in
                let writeError = KafkaChannelHandler.classify(error, peer: peer)
                guard writeError.code == .connectionClosed else { return promise.fail(writeError) }
                closeReason.whenComplete { result in promise.fail((try? result.get()) ?? writeError) }
            }
        return try await promise.futureResult.get()
    }
}
