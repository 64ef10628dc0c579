/// Accumulates indented Swift source lines.
struct CodeWriter {
    private(set) var lines: [String] = []
    private var level = 0

    mutating func line(_ text: String = "") {
        lines.append(text.isEmpty ? "" : String(repeating: "    ", count: level) + text)
    }

    mutating func block(_ opening: String, _ body: (inout CodeWriter) throws -> Void) rethrows {
        let pad = String(repeating: "    ", count: level)
        if opening.hasPrefix("else") || opening.hasPrefix("catch"), let last = lines.last, last == pad + "}" {
            lines[lines.count - 1] = pad + "} " + opening + " {"
        } else {
            line(opening + " {")
        }
        level += 1
        try body(&self)
        level -= 1
        line("}")
    }

    mutating func indent(_ body: (inout CodeWriter) throws -> Void) rethrows {
        level += 1
        try body(&self)
        level -= 1
    }

    mutating func doc(_ text: String?) {
        guard let text, !text.isEmpty else { return }
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line("/// " + part.trimmingCharacters(in: .whitespaces))
        }
    }

    var text: String { lines.joined(separator: "\n") + "\n" }
}

import Foundation
