/// The splitter types: how an input cuts its stream into records.

struct TokenSplitterOptions: PluginOptions {
    var delimiter = "\n"
    var deliverIncompleteFinal = true
    var keepTruncated = false
    static let options: [OptionSpec<Self>] = [
        .init("delimiter", \.delimiter, "the byte that ends a record"),
        .init("deliver_incomplete_final", \.deliverIncompleteFinal, "deliver a last record without its delimiter at end of stream"),
        .init("keep_truncated", \.keepTruncated, "cut a record over max_message_size to that size instead of dropping it"),
    ]
}

struct RegexSplitterOptions: PluginOptions {
    var delimiter = RegexOption.empty
    var delimiterEol = true
    var keepTruncated = false
    static let options: [OptionSpec<Self>] = [
        .init("delimiter", \.delimiter, required: true, "the pattern that separates records; without a capture group the match is dropped, with one (at most one) only the group is kept"),
        .init("delimiter_eol", \.delimiterEol, "the delimiter's group ends a record (true) or starts the next one (false)"),
        .init("keep_truncated", \.keepTruncated, "cut a record over max_message_size to that size instead of dropping it"),
    ]

    func validate() -> [(key: String, reason: String)] {
        RegexSplitter.problem(delimiter.compiled).map { [("delimiter", $0)] } ?? []
    }

}

extension TokenSplitter {
    static let plugin = PluginType.splitter("TokenSplitter", "records end with a delimiter (lines by default)", TokenSplitterOptions.self) { o, max in
        { TokenSplitter(delimiter: o.delimiter.utf8.first ?? 0x0A, deliverIncompleteFinal: o.deliverIncompleteFinal, maxRecordSize: max, keepTruncated: o.keepTruncated) }
    }
}

extension RegexSplitter {
    static let plugin = PluginType.splitter("RegexSplitter", "records are separated by a regular expression", RegexSplitterOptions.self) { o, max in
        { RegexSplitter(regex: o.delimiter.compiled, delimiterAtEnd: o.delimiterEol, maxRecordSize: max, keepTruncated: o.keepTruncated) }
    }
}

extension HekaFramingSplitter {
    static let plugin = PluginType.splitter("HekaFramingSplitter", "Heka stream framing", NoOptions.self) { _, max in
        { HekaFramingSplitter(maxMessageSize: max) }
    }
}

extension NullSplitter {
    static let plugin = PluginType.splitter("NullSplitter", "each read is one record", NoOptions.self) { _, _ in { NullSplitter() } }
}
