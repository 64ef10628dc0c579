import Foundation

/// The brokers and files `scripts/brokers.sh up` prepared for the integration tests, read from the
/// environment that `make test` (scripts/test.sh) passes to `swift test`.
///
/// Every accessor throws ``TestBrokers/MissingEnvironment`` when its variable is absent, so a test run
/// without the brokers **fails** with a message saying to run `make test`; it never skips.
///
/// ```swift
/// let bootstrap = try TestBrokers.tansuBootstrap   // "127.0.0.1:PORT"
/// ```
enum TestBrokers {
    /// A variable that `make test` sets is missing: the test was run without the test brokers.
    struct MissingEnvironment: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "environment variable \(variable) is not set: the integration tests need the test brokers; "
                + "run them with `make test` (or `make brokers-up` and `set -a; source $(scripts/brokers.sh env-file)` "
                + "before `swift test`)"
        }
    }

    /// Returns the value of `name`, or throws ``MissingEnvironment``.
    static func value(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw MissingEnvironment(variable: name)
        }
        return value
    }

    // MARK: Tansu (single node, memory storage)

    /// A plain Tansu broker shared by all tests (use unique topic names).
    static var tansuBootstrap: String { get throws { try value("KLIFE_TANSU_BOOTSTRAP") } }
    /// A second Tansu broker that tests may kill and restart (see ``TansuControl``).
    static var tansuKillableBootstrap: String { get throws { try value("KLIFE_TANSU_KILLABLE_BOOTSTRAP") } }
    /// The `--name` of the killable broker for `scripts/tansu.sh kill|restart`.
    static var tansuKillableName: String { get throws { try value("KLIFE_TANSU_KILLABLE_NAME") } }

    // MARK: TLS (stunnel in front of dedicated Tansu brokers that advertise the TLS port)

    /// TLS listener; its server certificate (SAN 127.0.0.1 and localhost) is signed by ``tlsCAFile``.
    static var tlsBootstrap: String { get throws { try value("KLIFE_TLS_BOOTSTRAP") } }
    /// Mutual-TLS listener: requires a client certificate signed by ``tlsCAFile``.
    static var mtlsBootstrap: String { get throws { try value("KLIFE_MTLS_BOOTSTRAP") } }
    /// PEM file of the CA that signed the server and client certificates.
    static var tlsCAFile: String { get throws { try value("KLIFE_TLS_CA_FILE") } }
    /// PEM file of an unrelated CA: trusting only it must fail the handshake.
    static var tlsWrongCAFile: String { get throws { try value("KLIFE_TLS_WRONG_CA_FILE") } }
    /// PEM client certificate accepted by the mTLS listener.
    static var tlsClientCertFile: String { get throws { try value("KLIFE_TLS_CLIENT_CERT_FILE") } }
    /// PEM (PKCS#8) private key of ``tlsClientCertFile``.
    static var tlsClientKeyFile: String { get throws { try value("KLIFE_TLS_CLIENT_KEY_FILE") } }
    /// PEM client certificate signed by the wrong CA: the mTLS listener rejects it.
    static var tlsWrongClientCertFile: String { get throws { try value("KLIFE_TLS_WRONG_CLIENT_CERT_FILE") } }
    /// Private key of ``tlsWrongClientCertFile``.
    static var tlsWrongClientKeyFile: String { get throws { try value("KLIFE_TLS_WRONG_CLIENT_KEY_FILE") } }

    // MARK: librdkafka mock cluster harness

    /// Bootstrap list of the harness's default 3-broker cluster (id 0). Prefer a cluster of your own:
    /// `try await MockCluster.create(brokers: 3)`.
    static var mockBootstrap: String { get throws { try value("KLIFE_MOCK_BOOTSTRAP") } }
    /// `host:port` of the harness's control port (see scripts/mock_cluster.py).
    static var mockControl: String { get throws { try value("KLIFE_MOCK_CONTROL") } }

    // MARK: Tools

    /// The venv's python (confluent-kafka 2.16.1), for scripts/rdkafka_tool.py.
    static var python: String { get throws { try value("KLIFE_PYTHON") } }
    /// Absolute path of the repository's scripts/ directory.
    static var scripts: String { get throws { try value("KLIFE_SCRIPTS") } }

    // MARK: Helpers

    /// A topic or group name no other test uses: `prefix-` followed by 12 random hex digits.
    static func uniqueName(_ prefix: String = "test") -> String {
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        return "\(prefix)-\(suffix)"
    }

    /// Splits "host:port" into its parts.
    static func hostAndPort(_ address: String) throws -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw MalformedAddress(address: address)
        }
        return (String(address[..<colon]), port)
    }

    struct MalformedAddress: Error, CustomStringConvertible {
        let address: String
        var description: String { "malformed host:port address '\(address)'" }
    }
}
