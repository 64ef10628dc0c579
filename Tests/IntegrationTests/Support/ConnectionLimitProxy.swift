import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy in front of one broker that forwards every connection until ``refuseNewConnections()``;
/// from then on it closes each new connection as soon as it has accepted it, as a broker at its connection
/// limit does (Kafka's `max.connections`), while the connections already open keep working.
///
/// Start the broker advertising the proxy's address (`tansu.sh start --advertise 127.0.0.1:PROXY_PORT`),
/// or clients connect to the broker directly after the first Metadata answer.
final class ConnectionLimitProxy: Sendable {
    /// What the proxy did with the connections it accepted.
    struct Counts: Sendable, CustomStringConvertible {
        var forwarded = 0
        var refused = 0
        var description: String { "\(forwarded) connections forwarded, \(refused) refused" }
    }

    let serverChannel: any Channel
    private let state = Mutex((refusing: false, counts: Counts(), open: [ObjectIdentifier: any Channel]()))

    var port: Int { serverChannel.localAddress!.port! }
    var address: String { "127.0.0.1:\(port)" }
    var counts: Counts { state.withLock { $0.counts } }

    private init(serverChannel: any Channel) { self.serverChannel = serverChannel }

    struct NotReady: Error {}
    struct Refused: Error {}

    /// Listens on a free 127.0.0.1 port; `targetPort()` says where the broker is when a client connects
    /// (the broker may be started after the proxy, to advertise the proxy's port).
    static func start(targetPort: @escaping @Sendable () -> Int?) async throws -> ConnectionLimitProxy {
        let box = Mutex<ConnectionLimitProxy?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                client.eventLoop.makeCompletedFuture {
                    guard let proxy = box.withLock({ $0 }), let port = targetPort() else { throw NotReady() }
                    // Throwing here makes NIO close the accepted connection.
                    guard proxy.admit(client) else { throw Refused() }
                    try client.pipeline.syncOperations.addHandler(ClientSide(proxy: proxy, targetPort: port))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = ConnectionLimitProxy(serverChannel: channel)
        box.withLock { $0 = proxy }
        return proxy
    }

    /// From now on every new connection is closed right after it is accepted.
    func refuseNewConnections() { state.withLock { $0.refusing = true } }

    /// Stops listening and closes every connection.
    func stop() async {
        try? await serverChannel.close()
        let open = state.withLock { $0.open.values }
        for channel in open { channel.close(promise: nil) }
    }

    private func admit(_ channel: any Channel) -> Bool {
        state.withLock { state in
            if state.refusing {
                state.counts.refused += 1
                return false
            }
            state.counts.forwarded += 1
            state.open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    fileprivate func closed(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}

/// The broker side of a forwarded connection: what it reads goes to the client; its end closes the client.
/// Both sides of a pair run on the client channel's event loop.
private final class BrokerSide: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let client: any Channel

    init(client: any Channel) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { client.close(promise: nil) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// The client side: dials the broker when the client connection is up, then forwards what it reads; its
/// end closes the broker side. `broker` is confined to the client channel's event loop.
private final class ClientSide: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let proxy: ConnectionLimitProxy
    let targetPort: Int
    var broker: (any Channel)?

    init(proxy: ConnectionLimitProxy, targetPort: Int) {
        self.proxy = proxy
        self.targetPort = targetPort
    }

    func channelActive(context: ChannelHandlerContext) {
        let client = context.channel
        ClientBootstrap(group: client.eventLoop)
            .channelInitializer { broker in
                broker.eventLoop.makeCompletedFuture {
                    try broker.pipeline.syncOperations.addHandler(BrokerSide(client: client))
                }
            }
            .connect(host: "127.0.0.1", port: targetPort)
            .whenComplete { result in
                switch result {
                case .success(let broker):
                    self.broker = broker
                    if client.isActive {
                        client.setOption(.autoRead, value: true).whenComplete { _ in }
                    } else {
                        broker.close(promise: nil)
                    }
                case .failure:
                    client.close(promise: nil)
                }
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        broker?.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        proxy.closed(context.channel)
        broker?.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
