import ArgumentParser
import Foundation
import Klife
import Testing

@testable import klife

@Suite struct GlobalOptionsTests {
    @Test func parsesEveryOption() throws {
        let options = try GlobalOptions.parse([
            "--bootstrap", "127.0.0.1:9092,[::1]:9093", "--tls-ca", "/ca.pem", "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
            "--sasl-mechanism", "scram-sha-512", "--sasl-username", "u", "--sasl-password", "p",
        ])
        let configuration = try options.makeConfiguration()
        #expect(configuration.connection.bootstrapServers.map(\.description) == ["127.0.0.1:9092", "::1:9093"])
        #expect(configuration.connection.tls?.caCertificateFile == "/ca.pem")
        #expect(configuration.connection.tls?.clientCertificateFile == "/c.pem")
        #expect(configuration.connection.tls?.clientPrivateKeyFile == "/k.pem")
        #expect(configuration.connection.sasl?.mechanism == .scramSHA512)
        #expect(configuration.connection.sasl?.username == "u")
    }

    @Test func theClientRackReachesTheConnection() throws {
        #expect(try GlobalOptions.parse(["--bootstrap", "h:1", "--client-rack", "az2"]).makeConfiguration().connection.clientRack == "az2")
        #expect(try GlobalOptions.parse(["--bootstrap", "h:1"]).makeConfiguration().connection.clientRack == nil)
        let file = KafkaClient.Configuration(connection: KafkaConnectionConfiguration(bootstrapServers: [.init(host: "h", port: 1)]))
        #expect(try GlobalOptions.parse(["--client-rack", "az3"]).makeConfiguration(file: file).connection.clientRack == "az3")
    }

    @Test func plainByDefault() throws {
        let configuration = try GlobalOptions.parse(["--bootstrap", "h:1"]).makeConfiguration()
        #expect(configuration.connection.tls == nil)
        #expect(configuration.connection.sasl == nil)
        #expect(try GlobalOptions.parse(["--bootstrap", "h:1", "--tls"]).makeConfiguration().connection.tls != nil)
    }

    @Test(arguments: [
        ["--bootstrap", "nohost"],
        ["--bootstrap", "h:99999"],
        ["--bootstrap", ""],
        ["--sasl-mechanism", "GSSAPI", "--sasl-username", "u", "--sasl-password", "p"],
        ["--sasl-mechanism", "PLAIN"],
        ["--sasl-username", "u"],
        ["--tls-key", "/k.pem"],
        ["--connect-timeout-ms", "0"],
    ])
    func rejectsBadOptions(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try GlobalOptions.parse(arguments) }
    }
}

@Suite struct GlobalOptionsConfigFileTests {
    static let sampleFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/klife-config.json").path

    @Test func configFileIsTheBaseAndFlagsOverrideIt() async throws {
        let fileOnly = try GlobalOptions.parse(["--config", Self.sampleFile, "--config-scope", "klife"])
        let loaded = try #require(try await fileOnly.loadConfigFile())
        let configuration = try fileOnly.makeConfiguration(file: loaded)
        #expect(configuration.connection.clientID == "orders-service")
        #expect(configuration.defaultProducer == "orders")
        if ProcessInfo.processInfo.environment["KLIFE_BOOTSTRAP"] == nil {
            #expect(configuration.connection.bootstrapServers.map(\.description) == ["127.0.0.1:9092"])
        }

        let withFlags = try GlobalOptions.parse(["--config", Self.sampleFile, "--config-scope", "klife", "--bootstrap", "h:1", "--tls"])
        let overridden = try withFlags.makeConfiguration(file: try await withFlags.loadConfigFile())
        #expect(overridden.connection.bootstrapServers.map(\.description) == ["h:1"])
        #expect(overridden.connection.tls != nil)
        #expect(overridden.producers.map(\.name) == ["orders", "bulk"])
    }

    @Test func unknownKeysInTheFileFail() async throws {
        let options = try GlobalOptions.parse(["--config", Self.sampleFile])  // no scope: "klife" is unknown
        await #expect(throws: KafkaError.self) { _ = try await options.loadConfigFile() }
    }
}
