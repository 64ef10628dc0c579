import Foundation
import Testing

/// Full Foundation (libFoundation + ICU, about 6 MB resident) must not come back into the library or the CLI:
/// FoundationEssentials at most (see docs/benchmarks/latency.md, "Resting memory").
@Suite struct NoFoundationTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `import Foundation` lines (any attribute or access level, any `import struct Foundation.X`) outside the
    /// `#else` of a `canImport(FoundationEssentials)` check, as "path:line".
    static func foundationImports(in directory: String) throws -> [String] {
        let root = repository.appendingPathComponent(directory)
        guard let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        let pattern = try Regex(#"^\s*(@\w+\s+)*((public|package|internal|fileprivate|private)\s+)?import\s+((struct|class|enum|protocol|func|var|let|typealias)\s+)?Foundation(\.|\s|$)"#)
        var found: [String] = []
        for case let url as URL in files where url.pathExtension == "swift" {
            let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            var previous = ""
            for (index, line) in lines.enumerated() {
                if line.firstMatch(of: pattern) != nil && previous.trimmingCharacters(in: .whitespaces) != "#else" {
                    found.append("\(url.path.dropFirst(repository.path.count + 1)):\(index + 1)")
                }
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { previous = String(line) }
            }
        }
        return found
    }

    @Test(arguments: ["Sources/Klife", "Sources/KafkaProtocol", "Sources/klife"])
    func noFullFoundationImport(directory: String) throws {
        let imports = try Self.foundationImports(in: directory)
        #expect(imports.isEmpty, "import Foundation at \(imports): use FoundationEssentials or libc")
    }

    @Test func theCheckFindsAnImport() throws {
        // The generator (a build tool, never linked into klife) does import Foundation.
        #expect(try !Self.foundationImports(in: "Sources/KafkaProtocolGenerator").isEmpty)
    }

    /// swift-configuration's JSON trait compiles JSONSnapshot, which imports Foundation for JSONSerialization.
    @Test func swiftConfigurationJSONTraitIsOff() throws {
        let manifest = try String(contentsOf: Self.repository.appendingPathComponent("Package.swift"), encoding: .utf8)
        let line = try #require(manifest.split(separator: "\n").first { $0.contains("swift-configuration.git") })
        #expect(line.contains("traits:"), "without traits: the default traits, JSON among them")
        #expect(!line.contains("\"JSON\""))
    }
}
