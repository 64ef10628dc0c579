// KafkaProtocol: the pure Kafka wire-protocol layer of Klife for Swift.
//
// ByteBuffer in, values out, and back. No I/O, no logging. Generated request/response types live in
// Generated/ (written by the KafkaProtocolGenerator target from Kafka's JSON message definitions),
// the hand-written record batch format in RecordBatch/, compression codecs in Compression/.
@_exported import NIOCore
