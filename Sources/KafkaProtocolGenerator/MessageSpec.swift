import Foundation

/// An inclusive version range from Kafka's JSON ("0+", "3-5", "7", "none").
struct VersionRange: Equatable {
    static let openEnd = Int(Int16.max)
    var lowest: Int
    var highest: Int

    static let none = VersionRange(lowest: 1, highest: 0)

    var isEmpty: Bool { lowest > highest }

    init(lowest: Int, highest: Int) {
        self.lowest = lowest
        self.highest = highest
    }

    init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "none" || t.isEmpty {
            self = .none
        } else if t.hasSuffix("+"), let low = Int(t.dropLast()) {
            self.init(lowest: low, highest: VersionRange.openEnd)
        } else if let dash = t.firstIndex(of: "-"), let low = Int(t[..<dash]), let high = Int(t[t.index(after: dash)...]) {
            self.init(lowest: low, highest: high)
        } else if let single = Int(t) {
            self.init(lowest: single, highest: single)
        } else {
            throw GeneratorError("bad version range \(text)")
        }
    }

    func intersection(_ other: VersionRange) -> VersionRange {
        let r = VersionRange(lowest: max(lowest, other.lowest), highest: min(highest, other.highest))
        return r.isEmpty ? .none : r
    }

    func hull(_ other: VersionRange) -> VersionRange {
        if isEmpty { return other }
        if other.isEmpty { return self }
        return VersionRange(lowest: min(lowest, other.lowest), highest: max(highest, other.highest))
    }

    func contains(_ v: Int) -> Bool { v >= lowest && v <= highest }

    func covers(_ other: VersionRange) -> Bool {
        other.isEmpty || (!isEmpty && lowest <= other.lowest && highest >= other.highest)
    }

    /// A Swift boolean expression over `version` that is true exactly for the versions of `self`
    /// among those of `context` (folded to "true"/"false" where possible).
    func condition(within context: VersionRange) -> String {
        let r = intersection(context)
        if r.isEmpty { return "false" }
        if r == context { return "true" }
        var parts: [String] = []
        if r.lowest > context.lowest { parts.append("version >= \(r.lowest)") }
        if r.highest < context.highest { parts.append("version <= \(r.highest)") }
        if parts.count == 2 && r.lowest == r.highest { return "version == \(r.lowest)" }
        return parts.joined(separator: " && ")
    }
}

indirect enum FieldType: Equatable {
    case int8, int16, int32, int64, uint16, uint32, float64, bool, string, bytes, records, uuid
    case array(FieldType)
    case structure(String)

    init(parsing text: String) throws {
        if text.hasPrefix("[]") {
            self = .array(try FieldType(parsing: String(text.dropFirst(2))))
            return
        }
        switch text {
        case "int8": self = .int8
        case "int16": self = .int16
        case "int32": self = .int32
        case "int64": self = .int64
        case "uint16": self = .uint16
        case "uint32": self = .uint32
        case "float64": self = .float64
        case "bool": self = .bool
        case "string": self = .string
        case "bytes": self = .bytes
        case "records": self = .records
        case "uuid": self = .uuid
        default:
            guard let first = text.first, first.isUppercase else { throw GeneratorError("unknown type \(text)") }
            self = .structure(text)
        }
    }

    var swiftBase: String {
        switch self {
        case .int8: return "Int8"
        case .int16: return "Int16"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .uint16: return "UInt16"
        case .uint32: return "UInt32"
        case .float64: return "Double"
        case .bool: return "Bool"
        case .string: return "String"
        case .bytes, .records: return "ByteBuffer"
        case .uuid: return "KafkaUUID"
        case .array(let element): return "[\(element.swiftBase)]"
        case .structure(let name): return name
        }
    }

    var isNumeric: Bool {
        switch self {
        case .int8, .int16, .int32, .int64, .uint16, .uint32, .float64: return true
        default: return false
        }
    }

    /// The ByteBuffer helper suffix for fixed-width types (`Int32` → readKafkaInt32).
    var fixedName: String? {
        switch self {
        case .int8: return "Int8"
        case .int16: return "Int16"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .uint16: return "UInt16"
        case .uint32: return "UInt32"
        case .float64: return "Float64"
        case .bool: return "Bool"
        case .uuid: return "UUID"
        default: return nil
        }
    }
}

struct FieldSpec {
    var name: String
    var swiftName: String
    var type: FieldType
    var versions: VersionRange
    var nullableVersions: VersionRange
    var taggedVersions: VersionRange
    var tag: Int?
    var ignorable: Bool
    var defaultText: String?
    var about: String?
    /// Field-level override of the message's flexible versions (only "none" occurs).
    var flexibleVersions: VersionRange?

    var isTagged: Bool { tag != nil }
    var isNullableSomewhere: Bool { !nullableVersions.isEmpty }

    var swiftType: String {
        isNullableSomewhere ? type.swiftBase + "?" : type.swiftBase
    }

    var defaultIsNull: Bool { defaultText == "null" }

    /// Swift expression of the default value (Kafka's generator semantics).
    func defaultExpression() throws -> String {
        switch type {
        case .int8, .int16, .int32, .int64, .uint16, .uint32:
            guard let d = defaultText, !d.isEmpty else { return "0" }
            if d.hasPrefix("0x") || d.hasPrefix("-0x") {
                let negative = d.hasPrefix("-")
                guard let v = Int64(d.dropFirst(negative ? 3 : 2), radix: 16) else { throw GeneratorError("bad default \(d) for \(name)") }
                return String(negative ? -v : v)
            }
            guard let v = Int64(d) else { throw GeneratorError("bad default \(d) for \(name)") }
            return String(v)
        case .float64:
            guard let d = defaultText, !d.isEmpty, let v = Double(d) else { return "0" }
            return String(v)
        case .bool:
            return defaultText == "true" ? "true" : "false"
        case .string:
            if defaultIsNull { return "nil" }
            return Naming.stringLiteral(defaultText ?? "")
        case .bytes:
            return defaultIsNull ? "nil" : "ByteBuffer()"
        case .records:
            return isNullableSomewhere ? "nil" : "ByteBuffer()"
        case .uuid:
            return ".zero"
        case .array:
            return defaultIsNull ? "nil" : "[]"
        case .structure(let s):
            return defaultIsNull ? "nil" : "\(s)()"
        }
    }

    /// Swift expression that is true when `value` differs from the default.
    func nonDefaultCondition(_ value: String) throws -> String {
        let d = try defaultExpression()
        switch type {
        case .array:
            if d == "nil" { return "\(value) != nil" }
            return isNullableSomewhere ? "\(value)?.isEmpty != true" : "!\(value).isEmpty"
        case .bytes, .records:
            if d == "nil" { return "\(value) != nil" }
            return isNullableSomewhere ? "\(value)?.readableBytes != 0" : "\(value).readableBytes != 0"
        case .string:
            if d == "\"\"" && !isNullableSomewhere { return "!\(value).isEmpty" }
            return "\(value) != \(d)"
        default:
            return "\(value) != \(d)"
        }
    }
}

struct StructSpec {
    var name: String
    var about: String?
    var fields: [FieldSpec]
    /// Versions of the enclosing message in which this struct can occur.
    var reach: VersionRange = .none
}

struct MessageSpec {
    var name: String
    var kind: String
    var apiKey: Int?
    var validVersions: VersionRange
    var flexibleVersions: VersionRange
    var listeners: [String]
    var top: StructSpec
    /// Nested structs in definition order (inline structs depth-first, then common structs).
    var structs: [StructSpec]

    init(json: [String: Any], file: String) throws {
        guard let name = json["name"] as? String, let kind = json["type"] as? String else {
            throw GeneratorError("\(file): missing name/type")
        }
        self.name = name
        self.kind = kind
        apiKey = json["apiKey"] as? Int
        validVersions = try VersionRange(parsing: json["validVersions"] as? String ?? "")
        flexibleVersions = try VersionRange(parsing: json["flexibleVersions"] as? String ?? "none")
        listeners = json["listeners"] as? [String] ?? []
        var structs: [StructSpec] = []
        let topFields = try MessageSpec.parseFields(json["fields"] as? [[String: Any]] ?? [], into: &structs, context: name)
        for common in json["commonStructs"] as? [[String: Any]] ?? [] {
            guard let cname = common["name"] as? String else { throw GeneratorError("\(file): common struct without name") }
            let placeholderIndex = structs.count
            structs.append(StructSpec(name: cname, about: common["about"] as? String, fields: []))
            let fields = try MessageSpec.parseFields(common["fields"] as? [[String: Any]] ?? [], into: &structs, context: cname)
            structs[placeholderIndex].fields = fields
        }
        top = StructSpec(name: name, about: nil, fields: topFields, reach: validVersions)
        self.structs = structs
        computeReach()
    }

    private static func parseFields(_ list: [[String: Any]], into structs: inout [StructSpec], context: String) throws -> [FieldSpec] {
        var fields: [FieldSpec] = []
        for f in list {
            guard let name = f["name"] as? String, let typeText = f["type"] as? String else {
                throw GeneratorError("\(context): field without name/type")
            }
            let type = try FieldType(parsing: typeText)
            var tag: Int?
            if let t = f["tag"] as? Int { tag = t } else if let t = f["tag"] as? String { tag = Int(t) }
            var defaultText: String?
            if let d = f["default"] as? String { defaultText = d }
            else if let d = f["default"] as? NSNumber {
                // JSON numbers and booleans both arrive as NSNumber; the field type says which it is.
                defaultText = type == .bool ? (d.boolValue ? "true" : "false") : String(d.int64Value)
            }
            let field = FieldSpec(
                name: name,
                swiftName: Naming.lowerCamel(name),
                type: type,
                versions: try VersionRange(parsing: f["versions"] as? String ?? "none"),
                nullableVersions: try VersionRange(parsing: f["nullableVersions"] as? String ?? "none"),
                taggedVersions: try VersionRange(parsing: f["taggedVersions"] as? String ?? "none"),
                tag: tag,
                ignorable: f["ignorable"] as? Bool ?? false,
                defaultText: defaultText,
                about: f["about"] as? String,
                flexibleVersions: try (f["flexibleVersions"] as? String).map { try VersionRange(parsing: $0) }
            )
            if field.isTagged && field.taggedVersions != field.versions {
                throw GeneratorError("\(context).\(name): tagged fields must have taggedVersions == versions")
            }
            fields.append(field)
            if let nested = f["fields"] as? [[String: Any]] {
                var elementName: String?
                if case .structure(let s) = type { elementName = s }
                if case .array(.structure(let s)) = type { elementName = s }
                guard let sname = elementName else { throw GeneratorError("\(context).\(name): fields on a non-struct type") }
                let index = structs.count
                structs.append(StructSpec(name: sname, about: f["about"] as? String, fields: []))
                let nestedFields = try parseFields(nested, into: &structs, context: sname)
                structs[index].fields = nestedFields
            }
        }
        return fields
    }

    func structSpec(named name: String) -> StructSpec? {
        structs.first { $0.name == name }
    }

    /// Computes for every nested struct the message versions in which it can occur.
    private mutating func computeReach() {
        var changed = true
        while changed {
            changed = false
            let containers = [top] + structs
            for container in containers {
                for field in container.fields {
                    var sname: String?
                    if case .structure(let s) = field.type { sname = s }
                    if case .array(.structure(let s)) = field.type { sname = s }
                    guard let s = sname, let index = structs.firstIndex(where: { $0.name == s }) else { continue }
                    let r = field.versions.intersection(container.reach)
                    let newReach = structs[index].reach.hull(r)
                    if newReach != structs[index].reach {
                        structs[index].reach = newReach
                        changed = true
                    }
                }
            }
        }
    }

    var isRequest: Bool { kind == "request" }
    var isResponse: Bool { kind == "response" }

    var firstFlexibleVersion: Int? {
        let r = flexibleVersions.intersection(validVersions)
        return r.isEmpty ? nil : r.lowest
    }
}
