import DequeModule
import NIOCore

/// The request/response bookkeeping of one broker connection, as a value type that returns actions.
///
/// Kafka answers the requests of one connection in the order it received them, so responses are matched
/// against a FIFO of in-flight requests: the first response must carry the correlation id of the oldest
/// in-flight request, anything else is a protocol violation that closes the connection. Requests that
/// expect no response (Produce with acks=0) get a correlation id but never enter the FIFO; a broker that
/// answers them anyway (Tansu does) has those answers dropped, as long as they come in order.
///
/// Timeouts use one timer for the whole connection: it is armed for the earliest deadline and, when it
/// fires, either closes the connection (a request expired) or re-arms for the next deadline. A request
/// timeout closes the connection (as the Java client does): the broker is stuck or the link is half-dead,
/// and the responses still due would otherwise pile up behind it.
///
/// `Context` is what the caller needs to complete a request later (an `EventLoopPromise` in the channel
/// handler, anything in tests).
struct RequestPipelineStateMachine<Context> {
    struct InFlight {
        var correlationID: Int32
        /// Position in the send order (correlation ids wrap, this does not).
        var sequence: UInt64
        var apiKey: Int16
        var deadline: NIODeadline
        var context: Context
    }

    /// A request to complete with an error.
    struct Failure {
        var context: Context
        var error: KafkaError
    }

    enum SendAction {
        /// Stamp `correlationID` into the frame and write it; arm the timer for `armTimer` when set.
        case write(correlationID: Int32, armTimer: NIODeadline?)
        /// The connection is closed: fail the request with this error, write nothing.
        case fail(KafkaError)
    }

    enum Action {
        case none
        /// Complete this request with the received frame.
        case succeed(Context)
        /// Arm the timeout timer for this instant.
        case armTimer(NIODeadline)
        /// Fail these requests, then close the channel.
        case closeConnection(KafkaError, failures: [Failure])
    }

    private enum State {
        case open
        case closed(KafkaError)
    }

    private var state: State = .open
    private var inFlight: Deque<InFlight> = []
    /// Recent requests sent without expecting a response, in send order, in case the broker answers them.
    private var unanswered: Deque<(sequence: UInt64, correlationID: Int32)> = []
    /// How many unanswered requests are remembered; a compliant broker never answers, so this only bounds memory.
    static var unansweredLimit: Int { 1024 }
    private var nextSequence: UInt64 = 0
    private var nextCorrelationID: Int32
    /// The instant the most recently armed timer fires, nil when none is armed.
    private var armedTimer: NIODeadline?
    /// Describes the peer in error messages, e.g. "broker 1 (127.0.0.1:9092)".
    let peer: String

    init(peer: String, firstCorrelationID: Int32 = 1) {
        self.peer = peer
        self.nextCorrelationID = firstCorrelationID
    }

    var inFlightCount: Int { inFlight.count }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The error the connection closed with, nil while open.
    var closeError: KafkaError? {
        if case .closed(let error) = state { return error }
        return nil
    }

    private mutating func takeCorrelationID() -> Int32 {
        let id = nextCorrelationID
        nextCorrelationID = id == .max ? 0 : id + 1
        return id
    }

    /// A request that expects a response is about to be written.
    mutating func sendRequest(apiKey: Int16, deadline: NIODeadline, context: Context) -> SendAction {
        if case .closed(let error) = state { return .fail(error) }
        let id = takeCorrelationID()
        nextSequence += 1
        inFlight.append(InFlight(correlationID: id, sequence: nextSequence, apiKey: apiKey, deadline: deadline, context: context))
        if let armed = armedTimer, armed <= deadline {
            return .write(correlationID: id, armTimer: nil)
        }
        armedTimer = deadline
        return .write(correlationID: id, armTimer: deadline)
    }

    /// A request that expects no response (Produce acks=0) is about to be written.
    mutating func sendWithoutResponse() -> SendAction {
        if case .closed(let error) = state { return .fail(error) }
        let id = takeCorrelationID()
        nextSequence += 1
        unanswered.append((nextSequence, id))
        if unanswered.count > Self.unansweredLimit { unanswered.removeFirst() }
        return .write(correlationID: id, armTimer: nil)
    }

    /// A complete response frame arrived; `correlationID` is nil when the frame is too short to hold one.
    mutating func frameReceived(correlationID: Int32?) -> Action {
        guard case .open = state else { return .none }  // already failed everything; drop late frames
        guard let correlationID else {
            return close(KafkaError(.protocolViolation, "response frame from \(peer) is shorter than a correlation id"))
        }
        // An answer to a request sent without expecting one, before the oldest request that expects one.
        let answerableBefore = inFlight.first?.sequence ?? .max
        if let index = unanswered.firstIndex(where: { $0.correlationID == correlationID && $0.sequence < answerableBefore }) {
            unanswered.removeFirst(index + 1)
            return .none
        }
        guard let head = inFlight.first else {
            return close(KafkaError(
                .protocolViolation, "\(peer) sent a response (correlation id \(correlationID)) with no request outstanding"
            ))
        }
        guard head.correlationID == correlationID else {
            return close(KafkaError(
                .protocolViolation,
                "\(peer) answered correlation id \(correlationID) but the oldest outstanding request is \(head.correlationID) (api key \(head.apiKey))"
            ))
        }
        inFlight.removeFirst()
        // Requests sent before this one without expecting an answer got none: they never will.
        while let oldest = unanswered.first, oldest.sequence < head.sequence { unanswered.removeFirst() }
        return .succeed(head.context)
    }

    /// The timeout timer fired.
    mutating func timerFired(now: NIODeadline) -> Action {
        armedTimer = nil
        guard case .open = state else { return .none }
        var earliest: NIODeadline?
        var expired: InFlight?
        for request in inFlight {
            if request.deadline <= now {
                expired = request
                break
            }
            if earliest == nil || request.deadline < earliest! { earliest = request.deadline }
        }
        if let expired {
            let timeout = KafkaError(
                .requestTimedOut,
                "request (api key \(expired.apiKey), correlation id \(expired.correlationID)) to \(peer) timed out",
                isRetriable: true
            )
            let closed = KafkaError(
                .connectionClosed,
                "connection to \(peer) closed because request \(expired.correlationID) timed out",
                isRetriable: true
            )
            state = .closed(closed)
            let failures = inFlight.map {
                Failure(context: $0.context, error: $0.correlationID == expired.correlationID ? timeout : closed)
            }
            inFlight.removeAll()
            return .closeConnection(closed, failures: failures)
        }
        guard let earliest else { return .none }
        armedTimer = earliest
        return .armTimer(earliest)
    }

    /// The pipeline hit an error (decoder, TLS, I/O): fail everything and close.
    mutating func errorCaught(_ error: KafkaError) -> Action {
        guard case .open = state else { return .none }
        return close(error)
    }

    /// Our side closes the connection on purpose.
    mutating func closeRequested() -> Action {
        guard case .open = state else { return .none }
        return close(KafkaError(.connectionClosed, "connection to \(peer) was closed by the client", isRetriable: true))
    }

    /// The channel became inactive. Returns the requests still to fail.
    mutating func channelInactive() -> [Failure] {
        let error: KafkaError
        switch state {
        case .open:
            error = KafkaError(.connectionClosed, "connection to \(peer) was closed by the broker", isRetriable: true)
            state = .closed(error)
        case .closed(let closeError):
            error = closeError
        }
        let failures = inFlight.map { Failure(context: $0.context, error: error) }
        inFlight.removeAll()
        return failures
    }

    private mutating func close(_ error: KafkaError) -> Action {
        state = .closed(error)
        let failures = inFlight.map { Failure(context: $0.context, error: error) }
        inFlight.removeAll()
        return .closeConnection(error, failures: failures)
    }
}
