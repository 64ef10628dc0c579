import NIOSSL

extension KafkaConnection {
    /// Builds the TLS client context for `tls`: custom CA file or the system trust store, client
    /// certificate and key for mutual TLS, certificate and hostname verification per the settings.
    /// Build it once and pass it to every ``connect(to:brokerID:configuration:versionPolicy:tlsContext:eventLoopGroup:logger:)``.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidConfiguration`` naming the option whose
    ///   file is missing or does not parse.
    public static func makeTLSContext(_ tls: KafkaConnectionConfiguration.TLS) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile = tls.caCertificateFile {
            let certificates = try load("tls.caCertificateFile", caFile) { try NIOSSLCertificate.fromPEMFile($0) }
            guard !certificates.isEmpty else {
                throw KafkaError(.invalidConfiguration, "tls.caCertificateFile \(caFile) holds no PEM certificate")
            }
            configuration.trustRoots = .certificates(certificates)
        }
        switch (tls.clientCertificateFile, tls.clientPrivateKeyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            let chain = try load("tls.clientCertificateFile", certificateFile) { try NIOSSLCertificate.fromPEMFile($0) }
            guard !chain.isEmpty else {
                throw KafkaError(.invalidConfiguration, "tls.clientCertificateFile \(certificateFile) holds no PEM certificate")
            }
            let key = try load("tls.clientPrivateKeyFile", keyFile) { try NIOSSLPrivateKey(file: $0, format: .pem) }
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
        case (nil, _?):
            throw KafkaError(.invalidConfiguration, "tls.clientPrivateKeyFile is set without tls.clientCertificateFile")
        case (_?, nil):
            throw KafkaError(.invalidConfiguration, "tls.clientCertificateFile is set without tls.clientPrivateKeyFile")
        }
        if !tls.verifyCertificate {
            configuration.certificateVerification = .none
        } else if !tls.verifyHostname {
            configuration.certificateVerification = .noHostnameVerification
        } else {
            configuration.certificateVerification = .fullVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw KafkaError(.invalidConfiguration, "TLS settings rejected: \(error)", underlying: error)
        }
    }

    private static func load<T>(_ option: String, _ path: String, _ body: (String) throws -> T) throws -> T {
        do {
            return try body(path)
        } catch {
            throw KafkaError(.invalidConfiguration, "\(option) \(path) cannot be read as PEM: \(error)", underlying: error)
        }
    }
}
