import Logging
import NIOCore
import NIOSSL

/// Executes the actions of a ``RequestPipelineStateMachine`` on a channel. It sits behind the frame
/// decoder: inbound it sees whole response frames, outbound ``KafkaOutboundRequest``s.
final class KafkaChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = KafkaOutboundRequest
    typealias OutboundOut = ByteBuffer

    private var stateMachine: RequestPipelineStateMachine<EventLoopPromise<ByteBuffer>>
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Set by ``Retire``: close as soon as no request is outstanding.
    private var closesWhenIdle = false
    /// The close at the retired connection's session end.
    private var retiredClose: Scheduled<Void>?
    private let logger: Logger
    private let closeReason: EventLoopPromise<KafkaError>?
    /// Until when the broker throttles this connection (KIP-219): requests written meanwhile wait in
    /// ``heldWrites``, in order, since a broker that answered before throttling does not read them yet.
    private var throttledUntil: NIODeadline?
    private var heldWrites: [(request: KafkaOutboundRequest, promise: EventLoopPromise<Void>?, heldAt: NIODeadline)] = []
    private var throttleEnd: Scheduled<Void>?

    /// - Parameters:
    ///   - peer: names the broker in error messages, e.g. "broker 1 (127.0.0.1:9092)".
    ///   - logger: carries `kafka.broker.*` metadata already.
    ///   - closeReason: succeeded with the reason once the channel is inactive.
    init(peer: String, logger: Logger, closeReason: EventLoopPromise<KafkaError>? = nil) {
        self.stateMachine = RequestPipelineStateMachine(peer: peer)
        self.logger = logger
        self.closeReason = closeReason
    }

    /// Why the connection closed (nil while open or when closed without an error). Event loop only.
    var closeError: KafkaError? { stateMachine.closeError }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        throttleEnd?.cancel()
        throttleEnd = nil
        retiredClose?.cancel()
        retiredClose = nil
        self.context = nil
        channelClosed()
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if throttledUntil != nil {
            heldWrites.append((request, promise, context.eventLoop.now))
            return
        }
        write(request, promise: promise, context: context)
    }

    private func write(_ request: KafkaOutboundRequest, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        // Taken out of the request, the frame is held here alone: stamping the correlation id below then
        // writes into it in place instead of copying the whole frame.
        var frame = request.takeFrame()
        guard frame.readableBytes >= KafkaOutboundRequest.minimumFrameBytes else {
            let error = KafkaError(.invalidArgument, "request frame of \(frame.readableBytes) bytes is too short")
            request.responsePromise?.fail(error)
            promise?.fail(error)
            return
        }
        let apiKey = frame.getInteger(at: frame.readerIndex + 4, endianness: .big, as: Int16.self)!
        let action: RequestPipelineStateMachine<EventLoopPromise<ByteBuffer>>.SendAction
        if let responsePromise = request.responsePromise {
            action = stateMachine.sendRequest(apiKey: apiKey, deadline: request.deadline, context: responsePromise)
        } else {
            action = stateMachine.sendWithoutResponse()
        }
        switch action {
        case .write(let correlationID, let armTimer):
            frame.setInteger(correlationID, at: frame.readerIndex + KafkaOutboundRequest.correlationIDOffset, endianness: .big)
            if let armTimer { arm(armTimer, context: context) }
            if logger.logLevel <= .trace {
                logger.trace(
                    "request sent",
                    metadata: [KafkaLogKey.api: "\(apiKey)", KafkaLogKey.correlationID: "\(correlationID)"]
                )
            }
            if let recycler = request.recycler, recycler.accepts(frame) {
                // Once the socket has taken every byte, the buffer goes back for the next large frame.
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.assumeIsolated().whenSuccess { [frame] in recycler.recycle(frame) }
                if let promise { written.futureResult.cascade(to: promise) }
                context.write(wrapOutboundOut(frame), promise: written)
            } else {
                context.write(wrapOutboundOut(frame), promise: promise)
            }
        case .fail(let error):
            request.responsePromise?.fail(error)
            promise?.fail(error)
        }
    }

    /// Close the connection once no request is outstanding, and at `closeAt` at the latest (see
    /// ``KafkaConnection/retire()``).
    struct Retire: Sendable {
        var closeAt: NIODeadline?
    }

    /// The broker answered a request with a throttle time, before throttling (KIP-219): hold further requests
    /// until `until`, as Kafka's clients do, instead of pipelining them onto a connection the broker has
    /// stopped reading (where their timeouts would run out).
    struct Throttle: Sendable {
        var until: NIODeadline
    }

    private func throttle(until: NIODeadline, context: ChannelHandlerContext) {
        guard until > context.eventLoop.now, until > (throttledUntil ?? .uptimeNanoseconds(0)) else { return }
        throttledUntil = until
        throttleEnd?.cancel()
        throttleEnd = context.eventLoop.assumeIsolated().scheduleTask(deadline: until) { [self] in
            guard let context = self.context else { return }
            self.throttledUntil = nil
            self.throttleEnd = nil
            let held = self.heldWrites
            self.heldWrites.removeAll()
            let now = context.eventLoop.now
            for entry in held {
                entry.request.postponeDeadline(by: now - entry.heldAt)
                self.write(entry.request, promise: entry.promise, context: context)
            }
            if !held.isEmpty { context.flush() }
            // A retired connection whose last requests were held closes once they are done (none may be left).
            if self.closesWhenIdle, self.isIdle, context.channel.isActive {
                context.close(promise: nil)
            }
        }
    }

    /// No request awaits its answer or waits to be written: a retired connection may close.
    private var isIdle: Bool { stateMachine.inFlightCount == 0 && heldWrites.isEmpty }

    /// Fails the requests held back by a throttle (the connection closed before they were written).
    private func failHeldWrites() {
        guard !heldWrites.isEmpty else { return }
        let error = stateMachine.closeError ?? KafkaError(.connectionClosed, "connection to \(stateMachine.peer) is closed", isRetriable: true)
        let held = heldWrites
        heldWrites.removeAll()
        for entry in held {
            entry.request.responsePromise?.fail(error)
            entry.promise?.fail(error)
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let throttle = event as? Throttle {
            self.throttle(until: throttle.until, context: context)
            promise?.succeed()
            return
        }
        guard let retire = event as? Retire else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed()
        closesWhenIdle = true
        if isIdle {
            context.close(promise: nil)
            return
        }
        if let closeAt = retire.closeAt {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            retiredClose = context.eventLoop.scheduleTask(deadline: closeAt) { loopBound.value.close(promise: nil) }
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all { run(stateMachine.closeRequested(), context: context, closeChannel: false) }
        context.close(mode: mode, promise: promise)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let correlationID = frame.getInteger(at: frame.readerIndex, endianness: .big, as: Int32.self)
        if logger.logLevel <= .trace {
            logger.trace("response received", metadata: [KafkaLogKey.correlationID: "\(correlationID.map { "\($0)" } ?? "-")"])
        }
        run(stateMachine.frameReceived(correlationID: correlationID), context: context, frame: frame)
        if closesWhenIdle, isIdle, context.channel.isActive { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        run(stateMachine.errorCaught(Self.classify(error, peer: stateMachine.peer)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        retiredClose?.cancel()
        retiredClose = nil
        channelClosed()
        context.fireChannelInactive()
    }

    private func channelClosed() {
        throttleEnd?.cancel()
        throttleEnd = nil
        throttledUntil = nil
        fail(stateMachine.channelInactive())
        failHeldWrites()
        if let reason = stateMachine.closeError { closeReason?.succeed(reason) }
    }

    // MARK: Actions

    private func run(
        _ action: RequestPipelineStateMachine<EventLoopPromise<ByteBuffer>>.Action,
        context: ChannelHandlerContext,
        frame: ByteBuffer? = nil,
        closeChannel: Bool = true
    ) {
        switch action {
        case .none:
            break
        case .succeed(let promise):
            promise.succeed(frame!)
        case .armTimer(let deadline):
            arm(deadline, context: context)
        case .closeConnection(let error, let failures):
            timer?.cancel()
            timer = nil
            logger.debug("closing connection: \(error.message)")
            fail(failures)
            if closeChannel { context.close(promise: nil) }
        }
    }

    private func fail(_ failures: [RequestPipelineStateMachine<EventLoopPromise<ByteBuffer>>.Failure]) {
        for failure in failures { failure.context.fail(failure.error) }
    }

    /// The state machine only asks for a timer earlier than the armed one, which then becomes redundant:
    /// the new one re-arms for every later deadline.
    private func arm(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard let context = self.context else { return }
            self.run(self.stateMachine.timerFired(now: context.eventLoop.now), context: context)
        }
    }

    /// Says in words what the common TLS failures mean; the raw error stays in `underlying`.
    static func tlsReason(_ error: any Error) -> String {
        let text = "\(error)"
        if (error as? NIOSSLExtraError) == .failedToValidateHostname {
            return "the broker's certificate is not valid for the host dialled (tls.verifyHostname)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the broker's certificate is not signed by a trusted CA (tls.caCertificateFile)"
        }
        if text.contains("CERTIFICATE_REQUIRED") || text.contains("HANDSHAKE_FAILURE") && text.contains("ALERT") {
            return "the broker requires a client certificate it accepts (tls.clientCertificateFile, tls.clientPrivateKeyFile)"
        }
        if text.contains("ALERT_UNKNOWN_CA") || text.contains("ALERT_BAD_CERTIFICATE") {
            return "the broker rejected our client certificate (tls.clientCertificateFile)"
        }
        if text.contains("WRONG_VERSION_NUMBER") {
            return "the broker did not answer with TLS (is this a plaintext port?)"
        }
        return text
    }

    /// Maps whatever the pipeline raised to a ``KafkaError``.
    static func classify(_ error: any Error, peer: String) -> KafkaError {
        switch error {
        case var error as KafkaError:
            // The frame decoder does not know whom it reads from; the caller must learn which broker it was.
            if error.code == .frameTooLarge && !error.message.contains(peer) { error.message = "\(peer) sent a bad frame: \(error.message)" }
            return error
        case ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed, ChannelError.eof:
            return KafkaError(.connectionClosed, "connection to \(peer) is closed", isRetriable: true, underlying: error)
        case NIOSSLError.uncleanShutdown:
            return KafkaError(.connectionClosed, "\(peer) closed the TLS connection without close_notify", isRetriable: true, underlying: error)
        case is NIOSSLError, is NIOSSLExtraError, is BoringSSLError:
            return KafkaError(.tlsHandshakeFailed, "TLS with \(peer) failed: \(tlsReason(error))", underlying: error)
        default:
            return KafkaError(.connectionClosed, "connection to \(peer) failed: \(error)", isRetriable: true, underlying: error)
        }
    }
}
