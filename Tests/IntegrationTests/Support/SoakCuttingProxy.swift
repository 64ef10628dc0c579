import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy in front of one broker that cuts connections where it hurts an idempotent producer most:
/// after the broker has taken a Produce request, while its response is on the way back. The client never
/// learns whether the batch was written, so it must send it again, and the broker must deduplicate it.
///
/// It reads the Kafka framing of both directions (size, API key, correlation id) to know which response
/// answers a Produce request. With probability ``Policy/produceCutProbability`` such a response is
/// forwarded only in part (a random prefix, possibly none of it) and both sides are closed. ``cutAll()``
/// closes every open connection at once, wherever it is. After ``refuseNewConnections()`` it closes each new
/// connection as soon as it has accepted it, as a broker at its connection limit does (Kafka's
/// `max.connections`), while the connections already open keep working. Decisions come from one seeded generator, so a
/// run's choices follow its seed (their timing still depends on the scheduler).
///
/// Start the broker advertising the proxy's address (`tansu.sh start --advertise 127.0.0.1:PROXY_PORT`),
/// or clients reconnect to the broker directly after the first Metadata answer.
final class SoakCuttingProxy: Sendable {
    struct Policy: Sendable {
        /// Chance of cutting the connection in the middle of a Produce response.
        var produceCutProbability: Double
        /// false: the proxy just forwards.
        var enabled: Bool = true
    }

    /// What the proxy did.
    struct Counts: Sendable, CustomStringConvertible {
        var connections = 0
        var produceResponsesCut = 0
        var cutAllConnections = 0
        var refused = 0
        var description: String {
            "\(connections) connections, \(produceResponsesCut) Produce responses cut, \(cutAllConnections) connections cut at random, \(refused) refused"
        }
    }

    let serverChannel: any Channel
    private let state: Mutex<(policy: Policy, random: SplitMix64Soak, counts: Counts, open: [ObjectIdentifier: any Channel], refusing: Bool)>

    var port: Int { serverChannel.localAddress!.port! }
    var address: String { "127.0.0.1:\(port)" }
    var counts: Counts { state.withLock { $0.counts } }

    private init(serverChannel: any Channel, policy: Policy, seed: UInt64) {
        self.serverChannel = serverChannel
        self.state = Mutex((policy, SplitMix64Soak(seed: seed), Counts(), [:], false))
    }

    /// Listens on a free 127.0.0.1 port; `targetPort()` says where the broker is when a client connects
    /// (the broker may be started after the proxy, to advertise the proxy's port).
    static func start(policy: Policy, seed: UInt64, targetPort: @escaping @Sendable () -> Int?) async throws -> SoakCuttingProxy {
        let box = Mutex<SoakCuttingProxy?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                client.eventLoop.makeCompletedFuture {
                    guard let proxy = box.withLock({ $0 }), let port = targetPort() else {
                        throw ProxyNotReady()
                    }
                    // Throwing here makes NIO close the accepted connection.
                    guard proxy.admitsNewConnection() else { throw ProxyRefused() }
                    try client.pipeline.syncOperations.addHandler(ProxyClientSide(proxy: proxy, targetPort: port))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = SoakCuttingProxy(serverChannel: channel, policy: policy, seed: seed)
        box.withLock { $0 = proxy }
        return proxy
    }

    struct ProxyNotReady: Error {}
    struct ProxyRefused: Error {}

    /// From now on every new connection is closed right after it is accepted.
    func refuseNewConnections() { state.withLock { $0.refusing = true } }

    private func admitsNewConnection() -> Bool {
        state.withLock { state in
            if state.refusing { state.counts.refused += 1 }
            return !state.refusing
        }
    }

    func setPolicy(_ policy: Policy) { state.withLock { $0.policy = policy } }

    /// Closes every open connection now (both sides), dropping whatever is in flight.
    func cutAll() {
        let open = state.withLock { state -> [any Channel] in
            guard state.policy.enabled else { return [] }
            state.counts.cutAllConnections += state.open.count
            return Array(state.open.values)
        }
        for channel in open { channel.close(promise: nil) }
    }

    /// Stops listening and closes every connection.
    func stop() async {
        try? await serverChannel.close()
        let open = state.withLock { $0.open.values }
        for channel in open { channel.close(promise: nil) }
    }

    fileprivate func opened(_ channel: any Channel) {
        state.withLock {
            $0.open[ObjectIdentifier(channel)] = channel
            $0.counts.connections += 1
        }
    }

    fileprivate func closed(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// For a Produce response of `size` bytes (frame included): nil to forward it, else how many of its
    /// bytes to forward before cutting.
    fileprivate func cutProduceResponse(frameBytes: Int) -> Int? {
        state.withLock { state -> Int? in
            guard state.policy.enabled else { return nil }
            let draw = Double(state.random.next() % 1_000_000) / 1_000_000
            guard draw < state.policy.produceCutProbability else { return nil }
            state.counts.produceResponsesCut += 1
            return Int(state.random.next() % UInt64(max(1, frameBytes)))
        }
    }
}

/// Where the frames of one direction of a Kafka connection start: reads each frame's size and its first
/// bytes (request: size, API key, version, correlation id; response: size, correlation id).
struct KafkaFrameScanner {
    /// Bytes of a frame's start to collect (size included) before reporting it.
    let prefixLength: Int
    private var prefix: [UInt8] = []
    private var skip = 0

    init(prefixLength: Int) { self.prefixLength = prefixLength }

    struct FrameStart {
        /// Index in the scanned chunk of the frame's first byte (negative: it began in an earlier chunk).
        var index: Int
        /// The frame's first `prefixLength` bytes.
        var prefix: [UInt8]
        /// The whole frame's length, size field included.
        var frameBytes: Int
    }

    /// The frames whose first `prefixLength` bytes complete in `chunk`.
    mutating func scan(_ chunk: ByteBuffer) -> [FrameStart] {
        var starts: [FrameStart] = []
        let bytes = chunk.readableBytesView
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if skip > 0 {
                let n = min(skip, bytes.endIndex - i)
                skip -= n
                i += n
                continue
            }
            prefix.append(bytes[i])
            i += 1
            if prefix.count == prefixLength {
                let size = Int(Int32(bigEndian: prefix[0..<4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
                let frameBytes = 4 + max(0, size)
                starts.append(FrameStart(index: (i - bytes.startIndex) - prefixLength, prefix: prefix, frameBytes: frameBytes))
                skip = max(0, frameBytes - prefixLength)
                prefix.removeAll(keepingCapacity: true)
            }
        }
        return starts
    }
}

/// State of one proxied connection, confined to the client channel's event loop (both sides run there).
private final class ProxyPair: @unchecked Sendable {
    let client: any Channel
    var broker: (any Channel)?
    var requests = KafkaFrameScanner(prefixLength: 12)
    var responses = KafkaFrameScanner(prefixLength: 8)
    var apiKeyByCorrelation: [Int32: Int16] = [:]
    var closing = false

    init(client: any Channel) { self.client = client }

    func closeBoth() {
        guard !closing else { return }
        closing = true
        forceClose()
    }

    func forceClose() {
        client.close(promise: nil)
        broker?.close(promise: nil)
    }
}

private func int32(_ bytes: ArraySlice<UInt8>) -> Int32 {
    Int32(bigEndian: Array(bytes).withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })
}

private final class ProxyClientSide: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let proxy: SoakCuttingProxy
    let targetPort: Int
    var pair: ProxyPair?

    init(proxy: SoakCuttingProxy, targetPort: Int) {
        self.proxy = proxy
        self.targetPort = targetPort
    }

    func channelActive(context: ChannelHandlerContext) {
        let client = context.channel
        let pair = ProxyPair(client: client)
        self.pair = pair
        proxy.opened(client)
        let proxy = self.proxy
        ClientBootstrap(group: client.eventLoop)
            .channelInitializer { broker in
                broker.eventLoop.makeCompletedFuture {
                    try broker.pipeline.syncOperations.addHandler(ProxyBrokerSide(proxy: proxy, pair: pair))
                }
            }
            .connect(host: "127.0.0.1", port: targetPort)
            .whenComplete { result in
                switch result {
                case .success(let broker):
                    pair.broker = broker
                    if pair.closing { broker.close(promise: nil) } else { client.setOption(.autoRead, value: true).whenComplete { _ in } }
                case .failure:
                    pair.closeBoth()
                }
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let pair, let broker = pair.broker, !pair.closing else { return }
        let chunk = unwrapInboundIn(data)
        for start in pair.requests.scan(chunk) {
            let apiKey = Int16(bigEndian: Array(start.prefix[4..<6]).withUnsafeBytes { $0.loadUnaligned(as: Int16.self) })
            pair.apiKeyByCorrelation[int32(start.prefix[8..<12])] = apiKey
        }
        broker.writeAndFlush(chunk, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        proxy.closed(context.channel)
        pair?.closeBoth()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pair?.closeBoth()
    }
}

private final class ProxyBrokerSide: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let proxy: SoakCuttingProxy
    let pair: ProxyPair

    init(proxy: SoakCuttingProxy, pair: ProxyPair) {
        self.proxy = proxy
        self.pair = pair
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !pair.closing else { return }
        var chunk = unwrapInboundIn(data)
        for start in pair.responses.scan(chunk) {
            let correlation = int32(start.prefix[4..<8])
            let apiKey = pair.apiKeyByCorrelation.removeValue(forKey: correlation)
            guard apiKey == 0, let keep = proxy.cutProduceResponse(frameBytes: start.frameBytes) else { continue }
            // Forward what came before this response and a random part of it, then cut.
            let upTo = max(0, min(chunk.readableBytes, start.index + keep))
            pair.closing = true
            let pair = self.pair
            if let head = chunk.readSlice(length: upTo), head.readableBytes > 0 {
                pair.client.writeAndFlush(head).whenComplete { _ in pair.forceClose() }
            } else {
                pair.forceClose()
            }
            return
        }
        pair.client.writeAndFlush(chunk, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pair.closeBoth()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pair.closeBoth()
    }
}
