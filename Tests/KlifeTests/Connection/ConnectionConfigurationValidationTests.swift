import Testing

@testable import Klife

@Suite struct ConnectionConfigurationValidationTests {
    typealias Address = KafkaConnectionConfiguration.BrokerAddress

    func config(_ change: (inout KafkaConnectionConfiguration) -> Void = { _ in }) -> KafkaConnectionConfiguration {
        var configuration = KafkaConnectionConfiguration(bootstrapServers: [Address(host: "127.0.0.1", port: 9092)])
        change(&configuration)
        return configuration
    }

    func rejection(_ configuration: KafkaConnectionConfiguration) -> KafkaError? {
        do {
            try configuration.validate()
            return nil
        } catch let error as KafkaError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test func parsesAddresses() throws {
        #expect(try Address(parsing: "127.0.0.1:9092") == Address(host: "127.0.0.1", port: 9092))
        #expect(try Address(parsing: " broker-1.example:19092 ") == Address(host: "broker-1.example", port: 19092))
        #expect(try Address(parsing: "[::1]:9093") == Address(host: "::1", port: 9093))
        #expect(try Address.parseList("a:1, b:2,") == [Address(host: "a", port: 1), Address(host: "b", port: 2)])
    }

    @Test(arguments: ["", "host", "host:", ":9092", "host:0", "host:65536", "host:x", "::1:9092", "[::1]", "[::1]9092"])
    func rejectsMalformedAddresses(_ text: String) {
        let error = #expect(throws: KafkaError.self) { try Address(parsing: text) }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func rejectsEmptyList() {
        let error = #expect(throws: KafkaError.self) { try Address.parseList(" , ") }
        #expect(error?.message.contains("bootstrapServers") == true)
    }

    @Test func defaultsAreValid() {
        #expect(rejection(config()) == nil)
    }

    @Test func namesTheBadOption() {
        let cases: [(String, KafkaConnectionConfiguration)] = [
            ("bootstrapServers", config { $0.bootstrapServers = [] }),
            ("bootstrapServers", config { $0.bootstrapServers = [Address(host: "", port: 1)] }),
            ("bootstrapServers", config { $0.bootstrapServers = [Address(host: "h", port: 0)] }),
            ("connectionsPerBroker", config { $0.connectionsPerBroker = 0 }),
            ("requestTimeout", config { $0.requestTimeout = .zero }),
            ("connectTimeout", config { $0.connectTimeout = .seconds(-1) }),
            ("reconnectBackoff", config { $0.reconnectBackoff = .zero }),
            ("reconnectBackoffMax", config { $0.reconnectBackoffMax = .milliseconds(1) }),
            ("maxFrameBytes", config { $0.maxFrameBytes = 0 }),
            ("sasl.username", config { $0.sasl = .init(mechanism: .scramSHA256, username: "", password: "p") }),
            ("sasl.password", config { $0.sasl = .init(mechanism: .plain, username: "u", password: "") }),
            ("tls.caCertificateFile", config { $0.tls = .init(caCertificateFile: "/nonexistent/ca.pem") }),
        ]
        for (option, configuration) in cases {
            let error = rejection(configuration)
            #expect(error?.code == .invalidConfiguration, "\(option)")
            #expect(error?.message.contains(option) == true, "\(option): \(error?.message ?? "accepted")")
        }
    }

    @Test func tlsFilesAreLoaded() throws {
        let ca = try TestCertificates.write(TestCertificates.caCertificate, name: "ca.pem")
        let cert = try TestCertificates.write(TestCertificates.clientCertificate, name: "client.pem")
        let key = try TestCertificates.write(TestCertificates.clientPrivateKey, name: "client.key")
        let garbage = try TestCertificates.write("not a certificate", name: "garbage.pem")
        #expect(rejection(config { $0.tls = .init(caCertificateFile: ca) }) == nil)
        #expect(rejection(config { $0.tls = .init(caCertificateFile: ca, clientCertificateFile: cert, clientPrivateKeyFile: key) }) == nil)
        let cases: [(String, KafkaConnectionConfiguration.TLS)] = [
            ("tls.caCertificateFile", .init(caCertificateFile: garbage)),
            ("tls.clientCertificateFile", .init(clientCertificateFile: garbage, clientPrivateKeyFile: key)),
            ("tls.clientPrivateKeyFile", .init(clientCertificateFile: cert, clientPrivateKeyFile: garbage)),
            ("tls.clientPrivateKeyFile", .init(clientCertificateFile: cert)),
            ("tls.clientCertificateFile", .init(clientPrivateKeyFile: key)),
        ]
        for (option, tls) in cases {
            let error = rejection(config { $0.tls = tls })
            #expect(error?.code == .invalidConfiguration, "\(option)")
            #expect(error?.message.contains(option) == true, "\(option): \(error?.message ?? "accepted")")
        }
    }
}
