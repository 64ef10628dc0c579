import Testing

@testable import Klife

@Suite struct SCRAMClientTests {
    /// RFC 7677 §3: the SCRAM-SHA-256 example exchange.
    @Test func rfc7677SHA256Vector() throws {
        var client = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.clientFirstMessage() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        let clientFinal = try client.receive(serverFirst)
        #expect(
            clientFinal
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        #expect(try client.receive("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == nil)
        #expect(client.isComplete)
    }

    @Test func wrongServerSignatureIsRejected() throws {
        var client = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        _ = client.clientFirstMessage()
        _ = try client.receive("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        let error = #expect(throws: KafkaError.self) {
            try client.receive("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("server signature") == true)
        #expect(!client.isComplete)
    }

    @Test func serverErrorInFinalMessage() throws {
        var client = SCRAMClient(hash: .sha512, username: "user", password: "pencil", clientNonce: "abc")
        _ = client.clientFirstMessage()
        _ = try client.receive("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        let error = #expect(throws: KafkaError.self) { try client.receive("e=invalid-proof") }
        #expect(error?.message.contains("invalid-proof") == true)
    }

    @Test func serverNonceMustExtendClientNonce() {
        var client = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: "abc")
        _ = client.clientFirstMessage()
        #expect(throws: KafkaError.self) { try client.receive("r=xyzdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") }
    }

    @Test func iterationCountIsBounded() {
        for iterations in ["1", "4095", "2000000000", "x"] {
            var client = SCRAMClient(hash: .sha256, username: "u", password: "p", clientNonce: "abc")
            _ = client.clientFirstMessage()
            #expect(throws: KafkaError.self) { try client.receive("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=\(iterations)") }
        }
    }

    @Test func usernameIsEscaped() {
        var client = SCRAMClient(hash: .sha256, username: "a=b,c", password: "p", clientNonce: "n")
        #expect(client.clientFirstMessage() == "n,,n=a=3Db=2Cc,r=n")
    }

    @Test func randomNoncesArePrintableAndDistinct() {
        let a = SCRAMClient.makeNonce()
        let b = SCRAMClient.makeNonce()
        #expect(a != b)
        #expect(a.count == 32)
        #expect(!a.contains(","))
    }
}

@Suite struct Base64Tests {
    /// RFC 4648 §10 test vectors.
    @Test func rfc4648Vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test func allByteValuesRoundTrip() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    }

    @Test func invalidInputIsRejected() {
        for bad in ["Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct SASLClientStateMachineTests {
    @Test func plainSendsOneMessage() throws {
        var sasl = try SASLClientStateMachine(.init(mechanism: .plain, username: "alice", password: "secret"))
        #expect(sasl.mechanismName == "PLAIN")
        #expect(sasl.start() == [0] + Array("alice".utf8) + [0] + Array("secret".utf8))
        #expect(try sasl.received([]) == .done)
    }

    @Test func scramRunsFourMessages() throws {
        var sasl = try SASLClientStateMachine(
            .init(mechanism: .scramSHA256, username: "user", password: "pencil"), scramNonce: "rOprNGfwEbeRWgbNEkqO"
        )
        #expect(sasl.mechanismName == "SCRAM-SHA-256")
        #expect(String(decoding: sasl.start(), as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        guard case .send(let final) = try sasl.received(Array(serverFirst.utf8)) else {
            Issue.record("expected client-final")
            return
        }
        #expect(String(decoding: final, as: UTF8.self).hasSuffix(",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
        #expect(try sasl.received(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8)) == .done)
    }
}
