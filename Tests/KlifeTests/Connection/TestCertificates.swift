import Foundation

/// Test certificates (EC P-256, valid until 2126), generated once with openssl for these tests only:
/// a CA, a server certificate for localhost/127.0.0.1, one for other.example only, and a client
/// certificate signed by it, and an unrelated CA. They protect nothing.
enum TestCertificates {
    static let caCertificate = """
    -----BEGIN CERTIFICATE-----
    MIIBhzCCAS2gAwIBAgIUIlkj/qmFnfVymWzHl5YMtDzTfZwwCgYIKoZIzj0EAwIw
    GDEWMBQGA1UEAwwNS2xpZmUgVGVzdCBDQTAgFw0yNjExMjkwNzMyMTJaGA8yMTI2
    MTEwNTA3MzIxMlowGDEWMBQGA1UEAwwNS2xpZmUgVGVzdCBDQTBZMBMGByqGSM49
    AgEGCCqGSM49AwEHA0IABBrJT97nKfmw2JKm1psQqrfgH5uuemVNeD1g/tZCuMX+
    l/USfE2CbrIlJo7dAHR0j/Pdip1YAFrJy5xA6mxQA1WjUzBRMB0GA1UdDgQWBBRJ
    Vh21/ywUB0s7QF2+oon8GW7WyzAfBgNVHSMEGDAWgBRJVh21/ywUB0s7QF2+oon8
    GW7WyzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCasnlivvqo
    St94E5+NLFHK9jrwstWh9nfKBFBi9n65KQIgOpQpYchZzuXfImRLoAyfpCfxQL5v
    UyYgyYmqCTuCIl8=
    -----END CERTIFICATE-----
    """

    static let wrongCACertificate = """
    -----BEGIN CERTIFICATE-----
    MIIBiTCCAS+gAwIBAgIUajRdxGbcYuM3W8kb7xm5fGf+GUYwCgYIKoZIzj0EAwIw
    GTEXMBUGA1UEAwwOS2xpZmUgV3JvbmcgQ0EwIBcNMjYxMTI5MDczMjEyWhgPMjEy
    NjExMDUwNzMyMTJaMBkxFzAVBgNVBAMMDktsaWZlIFdyb25nIENBMFkwEwYHKoZI
    zj0CAQYIKoZIzj0DAQcDQgAE8R/8YsepeseqkTtrwG3TrJbUDDW8Ru+eYaaWlOUe
    v+CD9ULGwBuM/workvxBj2gS3hXq2AngkGKv7aEPjZQe96NTMFEwHQYDVR0OBBYE
    FAUuW7eF9y0ahkytdMput/QoE+V6MB8GA1UdIwQYMBaAFAUuW7eF9y0ahkytdMpu
    t/QoE+V6MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgFC2Q8+mw
    d9b9WupmEzzmb7boMTmimJMAn5f6Rl+Kj3QCIQDggTeEAiYkA6vsao3OHBQieHJu
    jeeSb4wc8S10Fy+p8g==
    -----END CERTIFICATE-----
    """

    static let serverCertificate = """
    -----BEGIN CERTIFICATE-----
    MIIBmTCCAT+gAwIBAgIUdOlbiUh0cxqRkszSf04N/ts17yEwCgYIKoZIzj0EAwIw
    GDEWMBQGA1UEAwwNS2xpZmUgVGVzdCBDQTAgFw0yNjExMjkwNzMyMTNaGA8yMTI2
    MTEwNTA3MzIxM1owFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYI
    KoZIzj0DAQcDQgAEPPCjJ8AHc/taFgvkF9+GJmP/Cl+Gw14nkFJIM6tb7QQCTg1L
    /BI0lJc/1fAD+Lv7sFNwS3l9XaxsOFCoWVG816NpMGcwGgYDVR0RBBMwEYIJbG9j
    YWxob3N0hwR/AAABMAkGA1UdEwQCMAAwHQYDVR0OBBYEFFHLTizbjhG+UnH/oL7V
    xKkrNYV+MB8GA1UdIwQYMBaAFElWHbX/LBQHSztAXb6iifwZbtbLMAoGCCqGSM49
    BAMCA0gAMEUCIAvkcK0F/ZH7Xlibyt4yam0jnv3gIO78FlLptPCFwZd9AiEAjjzo
    TRQ3eAq6GTh18RDzL8MCRPokIWxX1Vxjoj+7sdQ=
    -----END CERTIFICATE-----
    """

    static let serverPrivateKey = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg+H/D+dJElr3gyhuQ
    wgr2K4nYKg1baeLs/LdR5ZEM0/mhRANCAAQ88KMnwAdz+1oWC+QX34YmY/8KX4bD
    XieQUkgzq1vtBAJODUv8EjSUlz/V8AP4u/uwU3BLeX1drGw4UKhZUbzX
    -----END PRIVATE KEY-----
    """

    static let clientCertificate = """
    -----BEGIN CERTIFICATE-----
    MIIBlDCCATugAwIBAgIUdOlbiUh0cxqRkszSf04N/ts17yIwCgYIKoZIzj0EAwIw
    GDEWMBQGA1UEAwwNS2xpZmUgVGVzdCBDQTAgFw0yNjExMjkwNzMyMTNaGA8yMTI2
    MTEwNTA3MzIxM1owFzEVMBMGA1UEAwwMa2xpZmUtY2xpZW50MFkwEwYHKoZIzj0C
    AQYIKoZIzj0DAQcDQgAEdCo2y8yPGaPf3X0/KVbBOkgpHoMaWU8rZCZx8SP9hEUu
    pDcy7k5Xsi9ZlAHGujNTA6zFSJqLYNvsDCD6r0fRX6NiMGAwCQYDVR0TBAIwADAT
    BgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQU006XRKzziO8IEdw6LCwaop9+
    YuswHwYDVR0jBBgwFoAUSVYdtf8sFAdLO0BdvqKJ/Blu1sswCgYIKoZIzj0EAwID
    RwAwRAIgRdy6bgQZkrkzy2ABYHFL3lIEiJR9iu1S9dhdWyvNnYACIE2d6tgDoh+L
    hbYaRlDZx9yskYlwyr9LZVlZMbAMG6CP
    -----END CERTIFICATE-----
    """

    static let clientPrivateKey = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwIE/TBgfBtoxGQM1
    IJ3brihTjsYtE8TNsqoXhgFkZsShRANCAAR0KjbLzI8Zo9/dfT8pVsE6SCkegxpZ
    TytkJnHxI/2ERS6kNzLuTleyL1mUAca6M1MDrMVImotg2+wMIPqvR9Ff
    -----END PRIVATE KEY-----
    """

    static let otherServerCertificate = """
    -----BEGIN CERTIFICATE-----
    MIIBmjCCAUGgAwIBAgIUdOlbiUh0cxqRkszSf04N/ts17yMwCgYIKoZIzj0EAwIw
    GDEWMBQGA1UEAwwNS2xpZmUgVGVzdCBDQTAgFw0yNjExMjkwODAxMDlaGA8yMTI2
    MTEwNTA4MDEwOVowGDEWMBQGA1UEAwwNb3RoZXIuZXhhbXBsZTBZMBMGByqGSM49
    AgEGCCqGSM49AwEHA0IABMb6sEI2AGtYwemrZazYwvMmHxJQPpw4VefC4Xn7QfEG
    qeXFYpZlrZB4vjKyNfYsazvMb/B9vnki5lnCFk4sGZKjZzBlMBgGA1UdEQQRMA+C
    DW90aGVyLmV4YW1wbGUwCQYDVR0TBAIwADAdBgNVHQ4EFgQUNUpWhuvSM+I5V40B
    V9RL0KO6HWMwHwYDVR0jBBgwFoAUSVYdtf8sFAdLO0BdvqKJ/Blu1sswCgYIKoZI
    zj0EAwIDRwAwRAIgO07iwcw7BBuBVvwqdnoi/OPLBkNN5hR+VU9tJQqh4pICIAHd
    l0OEChqSoqq8Hh1BeHAnWAMQQdy3pPAuAanzt4DW
    -----END CERTIFICATE-----
    """

    static let otherServerPrivateKey = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7vzF0KuCz7fk2Bj0
    JMOOPT9aTFTMhQe24vFX3MuXfTyhRANCAATG+rBCNgBrWMHpq2Ws2MLzJh8SUD6c
    OFXnwuF5+0HxBqnlxWKWZa2QeL4ysjX2LGs7zG/wfb55IuZZwhZOLBmS
    -----END PRIVATE KEY-----
    """

    /// Writes `contents` to a fresh file under the temporary directory and returns its path.
    static func write(_ contents: String, name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("klife-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}
