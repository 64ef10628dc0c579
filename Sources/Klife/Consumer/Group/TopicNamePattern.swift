/// A compiled ``KafkaConsumerGroupConfiguration/topicPattern``: a regular expression that must match a
/// topic's whole name (as Java's `Pattern.matcher(topic).matches()`), so `orders` matches `orders` only and
/// `orders.*` every topic starting with `orders`.
struct TopicNamePattern: @unchecked Sendable {
    // @unchecked: Regex<AnyRegexOutput> is an immutable value, only read after init.
    let source: String
    private let regex: Regex<AnyRegexOutput>

    /// - Throws: the regular expression's parse error.
    init(_ source: String) throws {
        self.source = source
        self.regex = try Regex(source)
    }

    func matches(_ topic: String) -> Bool {
        (try? regex.wholeMatch(in: topic)) != nil
    }
}
