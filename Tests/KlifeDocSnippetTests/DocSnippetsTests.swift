import Foundation
import Klife
import Testing

/// Keeps the DocC articles honest: every Swift code block in `Sources/Klife/Klife.docc` must be preceded by
/// `<!-- snippet: NAME -->` and equal the compiled region `NAME` of this target; the configuration reference
/// must name every configuration key and the observability article every metric.
@Suite struct DocSnippetsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let catalogue = root.appendingPathComponent("Sources/Klife/Klife.docc")
    static let snippetsDirectory = root.appendingPathComponent("Tests/KlifeDocSnippetTests")

    /// Regions of the snippet sources, dedented.
    static func regions() throws -> [String: [String]] {
        var regions: [String: [String]] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: snippetsDirectory.path).filter { $0.hasSuffix("Snippets.swift") }
        for file in files {
            let lines = try String(contentsOf: snippetsDirectory.appendingPathComponent(file), encoding: .utf8)
                .components(separatedBy: "\n")
            var current: (name: String, lines: [String])?
            for line in lines {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("// snippet.begin ") {
                    current = (String(trimmed.dropFirst("// snippet.begin ".count)), [])
                } else if trimmed == "// snippet.end", let region = current {
                    #expect(regions[region.name] == nil, "snippet \(region.name) defined twice")
                    regions[region.name] = dedent(region.lines)
                    current = nil
                } else if current != nil {
                    current!.lines.append(line)
                }
            }
            #expect(current == nil, "unterminated snippet \(current?.name ?? "") in \(file)")
        }
        return regions
    }

    static func dedent(_ lines: [String]) -> [String] {
        let indent = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { $0.prefix { $0 == " " }.count }.min() ?? 0
        return lines.map { $0.count >= indent ? String($0.dropFirst(indent)) : $0.trimmingCharacters(in: .whitespaces) }
    }

    static func articles() throws -> [(name: String, text: String)] {
        try FileManager.default.contentsOfDirectory(atPath: catalogue.path).filter { $0.hasSuffix(".md") }.sorted().map {
            ($0, try String(contentsOf: catalogue.appendingPathComponent($0), encoding: .utf8))
        }
    }

    @Test func everyArticleCodeBlockIsACompiledSnippet() throws {
        let regions = try Self.regions()
        var used = Set<String>()
        let articles = try Self.articles()
        #expect(articles.count >= 10)
        for (name, text) in articles {
            let lines = text.components(separatedBy: "\n")
            var index = 0
            while index < lines.count {
                guard lines[index].hasPrefix("```swift") else {
                    index += 1
                    continue
                }
                let marker = index > 0 ? lines[index - 1].trimmingCharacters(in: .whitespaces) : ""
                var end = index + 1
                while end < lines.count && !lines[end].hasPrefix("```") { end += 1 }
                let block = Array(lines[(index + 1)..<end])
                if marker.hasPrefix("<!-- snippet: "), marker.hasSuffix(" -->") {
                    let snippet = String(marker.dropFirst("<!-- snippet: ".count).dropLast(" -->".count))
                    used.insert(snippet)
                    if let region = regions[snippet] {
                        #expect(block == region, "\(name): the block for \(snippet) differs from the compiled snippet:\n\(region.joined(separator: "\n"))")
                    } else {
                        Issue.record("\(name) line \(index + 1): no compiled snippet named \(snippet)")
                    }
                } else {
                    Issue.record("\(name) line \(index + 1): a swift code block without a <!-- snippet: NAME --> marker")
                }
                index = end + 1
            }
        }
        #expect(Set(regions.keys).subtracting(used).isEmpty, "snippets no article quotes: \(Set(regions.keys).subtracting(used).sorted())")
    }

    @Test func configurationReferenceNamesEveryKey() throws {
        let text = try String(contentsOf: Self.catalogue.appendingPathComponent("ConfigurationReference.md"), encoding: .utf8)
        // Tables list keys relative to their section: `tls.enabled` under connection.*, `linger` under producers.<name>.*.
        var relative: [String] = []
        for key in KafkaConfigurationKeys.client + KafkaConfigurationKeys.consumerGroup {
            var parts = key.split(separator: ".").map(String.init)
            if parts.first == "connection" {
                parts.removeFirst()
            } else if parts.count > 2, parts[1] == "<name>" || parts[1] == "<topic>" {
                parts.removeFirst(2)
            } else if parts.first == "defaultTopicOptions" {
                parts.removeFirst()
            }
            relative.append(parts.joined(separator: "."))
        }
        for key in relative {
            #expect(text.contains("| `\(key)` |"), "ConfigurationReference.md has no table row for \(key)")
        }
        for section in ["connection.", "producers.<name>.", "transactionalPools.<name>.", "fetchers.<name>.", "topics.<name>.", "topicOptions.<topic>."] {
            #expect(text.contains(section), "ConfigurationReference.md has no \(section) section")
        }
    }

    @Test func observabilityArticleNamesEveryMetric() throws {
        let text = try String(contentsOf: Self.catalogue.appendingPathComponent("Observability.md"), encoding: .utf8)
        for label in KafkaMetricLabel.all {
            #expect(text.contains("`\(label)`"), "Observability.md does not document \(label)")
        }
        for key in ["kafka.broker.id", "kafka.broker.host", "kafka.api", "kafka.correlation_id"] {
            #expect(text.contains("`\(key)`"), "Observability.md does not document the log metadata key \(key)")
        }
    }
}
