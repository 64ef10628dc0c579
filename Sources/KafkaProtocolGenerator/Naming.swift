/// Swift spellings of Kafka's JSON names.
enum Naming {
    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "as", "false", "is", "nil", "self", "Self", "super", "throws",
        "true", "try", "await", "async", "any", "some", "Type", "Protocol",
    ]

    /// `TopicData` → `topicData`, `KRaftVersion` → `kraftVersion`, `ID` → `id`.
    static func lowerCamel(_ name: String) -> String {
        let chars = Array(name)
        var upperRun = 0
        while upperRun < chars.count, chars[upperRun].isUppercase { upperRun += 1 }
        if upperRun == 0 { return name }
        if upperRun == chars.count { return name.lowercased() }
        let lowerCount = upperRun == 1 ? 1 : upperRun - 1
        return String(chars[0..<lowerCount]).lowercased() + String(chars[lowerCount...])
    }

    /// `NOT_LEADER_OR_FOLLOWER` → `notLeaderOrFollower`.
    static func lowerCamelFromSnake(_ name: String) -> String {
        let parts = name.lowercased().split(separator: "_")
        guard let first = parts.first else { return name }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    static func escaped(_ identifier: String) -> String {
        keywords.contains(identifier) ? "`\(identifier)`" : identifier
    }

    static func stringLiteral(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
