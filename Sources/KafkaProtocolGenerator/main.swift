// KafkaProtocolGenerator: turns Kafka's JSON message definitions into Swift.
//
// Usage: swift run KafkaProtocolGenerator [--messages DIR] [--error-codes FILE] [--output DIR] [--test-output DIR]
// Defaults are relative to the package root: ../shared/kafka-protocol/messages (or the nearest ancestor's
// shared/kafka-protocol when run from a nested git worktree),
// ../shared/kafka-protocol/error-codes.tsv, Sources/KafkaProtocol/Generated and
// Tests/KafkaProtocolTests/Generated/Samples.

import Foundation

let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `../shared/kafka-protocol` next to the package; from a git worktree nested deeper, the nearest
/// ancestor directory that has `shared/kafka-protocol`.
func defaultProtocolDir() -> URL {
    var dir = packageRoot.deletingLastPathComponent()
    let preferred = dir.appendingPathComponent("shared/kafka-protocol")
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/kafka-protocol")
        if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("messages").path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return preferred
}

let protocolDir = defaultProtocolDir()
var messagesDir = protocolDir.appendingPathComponent("messages")
var errorCodesFile = protocolDir.appendingPathComponent("error-codes.tsv")
var outputDir = packageRoot.appendingPathComponent("Sources/KafkaProtocol/Generated")
var testOutputDir = packageRoot.appendingPathComponent("Tests/KafkaProtocolTests/Generated/Samples")

var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    guard let value = arguments.popFirst() else {
        FileHandle.standardError.write(Data("missing value for \(option)\n".utf8))
        exit(2)
    }
    let url = URL(fileURLWithPath: value)
    switch option {
    case "--messages": messagesDir = url
    case "--error-codes": errorCodesFile = url
    case "--output": outputDir = url
    case "--test-output": testOutputDir = url
    default:
        FileHandle.standardError.write(Data("unknown option \(option)\nusage: KafkaProtocolGenerator [--messages DIR] [--error-codes FILE] [--output DIR] [--test-output DIR]\n".utf8))
        exit(2)
    }
}

/// Definitions that are not client-facing or are hand-written (headers).
let excludedFiles: Set<String> = ["RequestHeader", "ResponseHeader"]
/// Data (non-request) structures a client needs: the classic consumer protocol's embedded payloads.
let includedDataFiles: Set<String> = ["ConsumerProtocolAssignment", "ConsumerProtocolSubscription"]

struct Paths {
    var messagesDir: URL
    var errorCodesFile: URL
    var outputDir: URL
    var testOutputDir: URL
}

func run(_ paths: Paths) throws {
    let messagesDir = paths.messagesDir, errorCodesFile = paths.errorCodesFile
    let outputDir = paths.outputDir, testOutputDir = paths.testOutputDir
    let fm = FileManager.default
    let files = try fm.contentsOfDirectory(atPath: messagesDir.path).filter { $0.hasSuffix(".json") }.sorted()
    var specs: [String: MessageSpec] = [:]
    for file in files {
        let json = try JSONWithComments.load(messagesDir.appendingPathComponent(file))
        let spec = try MessageSpec(json: json, file: file)
        specs[spec.name] = spec
    }
    let requests = specs.values.filter { $0.isRequest && $0.apiKey != nil }
    var selected: [MessageSpec] = []
    for request in requests.sorted(by: { $0.name < $1.name }) where request.listeners.contains("broker") {
        let responseName = String(request.name.dropLast("Request".count)) + "Response"
        guard let response = specs[responseName] else { throw GeneratorError("no response for \(request.name)") }
        selected.append(request)
        selected.append(response)
    }
    for name in includedDataFiles.sorted() {
        guard let spec = specs[name] else { throw GeneratorError("missing \(name).json") }
        selected.append(spec)
    }
    selected.removeAll { excludedFiles.contains($0.name) }

    var outputs: [URL: [String: String]] = [outputDir: [:], testOutputDir: [:]]
    for spec in selected {
        outputs[outputDir]!["\(spec.name).swift"] = try MessageEmitter(message: spec).emit()
        outputs[testOutputDir]!["\(spec.name)+Sample.swift"] = try SampleEmitter(message: spec).emit()
    }
    outputs[testOutputDir]!["GeneratedMessageCases.swift"] = SampleEmitter.cases(selected)
    outputs[outputDir]!["KafkaAPIKey.swift"] = EnumEmitters.apiKeys(requests)
    let tsv = try String(contentsOf: errorCodesFile, encoding: .utf8)
    outputs[outputDir]!["KafkaErrorCode.swift"] = EnumEmitters.errorCodes(try EnumEmitters.parseErrorCodes(tsv))
    outputs[outputDir]!["ByteBuffer+GeneratedMessages.swift"] = SupportEmitter.source

    for (dir, contents) in outputs {
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        // Remove stale generated files so that renamed/dropped messages do not linger.
        for existing in try fm.contentsOfDirectory(atPath: dir.path) where existing.hasSuffix(".swift") && contents[existing] == nil {
            try fm.removeItem(at: dir.appendingPathComponent(existing))
        }
        for (name, text) in contents {
            let url = dir.appendingPathComponent(name)
            if let old = try? String(contentsOf: url, encoding: .utf8), old == text { continue }
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }
    print("generated \(selected.count) messages into \(outputDir.path) and samples into \(testOutputDir.path)")
}

do {
    try run(Paths(messagesDir: messagesDir, errorCodesFile: errorCodesFile, outputDir: outputDir, testOutputDir: testOutputDir))
} catch {
    FileHandle.standardError.write(Data("KafkaProtocolGenerator: \(error)\n".utf8))
    exit(1)
}
