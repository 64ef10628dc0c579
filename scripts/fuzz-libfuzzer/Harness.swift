import NIOCore

/// libFuzzer entry: byte 0 picks the response type, byte 1 the version, byte 2 whether the rest is a
/// response body or a record batch section; anything but a value or a KafkaProtocolError is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func klifeFuzzOne(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    guard bytes.count >= 3 else { return 0 }
    let body = ByteBuffer(bytes: bytes.dropFirst(3))
    if bytes[2] & 0x80 != 0 {
        var reader = RecordBatchReader(records: body, verifiesChecksums: bytes[2] & 1 == 1, maxDecompressedBytes: 1 << 20)
        do {
            while let batch = try reader.next() {
                var records = batch.makeRecordIterator()
                while try records.next() != nil {}
            }
        } catch is KafkaProtocolError {
        } catch { fatalError("non-protocol error \(error)") }
        return 0
    }
    let (type, versions) = fuzzResponseTypes[Int(bytes[0]) % fuzzResponseTypes.count]
    let version = versions.lowerBound + Int16(Int(bytes[1]) % versions.count)
    var buffer = body
    do {
        let value = try type.init(from: &buffer, version: version)
        var out = ByteBuffer()
        try value.encode(into: &out, version: version)
        var again = out
        let second = try type.init(from: &again, version: version)
        var out2 = ByteBuffer()
        try second.encode(into: &out2, version: version)
        precondition(out == out2, "\(type) v\(version) is not stable")
    } catch is KafkaProtocolError {
    } catch { fatalError("non-protocol error \(error)") }
    return 0
}
