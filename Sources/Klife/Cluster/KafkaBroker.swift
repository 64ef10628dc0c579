/// A broker of the cluster as the metadata describes it.
public struct KafkaBroker: Hashable, Sendable, CustomStringConvertible {
    /// The broker's node id.
    public var nodeID: Int32
    public var host: String
    public var port: Int
    /// The broker's rack, when it has one.
    public var rack: String?

    public init(nodeID: Int32, host: String, port: Int, rack: String? = nil) {
        self.nodeID = nodeID
        self.host = host
        self.port = port
        self.rack = rack
    }

    /// The address to connect to.
    public var address: KafkaConnectionConfiguration.BrokerAddress { .init(host: host, port: port) }

    public var description: String { "broker \(nodeID) (\(host):\(port))" }
}
