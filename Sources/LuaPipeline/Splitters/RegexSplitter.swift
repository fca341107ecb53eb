import CLua

/// Records are separated by a regular expression, as Heka's RegexSplitter cuts them:
/// - without a capture group the delimiter is dropped: `\r?\n` gives lines without their
///   line end;
/// - with one group, `delimiter_eol = true` ends a record with what the match holds up to
///   the group's end (the rest of the match is dropped), and `delimiter_eol = false`
///   starts the next record with the group (`'\n(# User@Host:)'`: the newline is dropped,
///   `# User@Host:` begins the record).
/// Empty records are skipped. More than one group is a config error (Heka's wording).
public struct RegexSplitter: Splitter {
    let regex: CompiledRegex
    let delimiterAtEnd: Bool
    let limit: RecordLimit
    private var pending: [UInt8] = []
    /// Bytes at the start of `pending` that are the previous match's group, beginning the
    /// record being read (`delimiter_eol = false`); the next match is searched after them.
    private var carried = 0
    private var errors: [String] = []

    init(regex: CompiledRegex, delimiterAtEnd: Bool = true, maxRecordSize: Int, keepTruncated: Bool) {
        self.regex = regex
        self.delimiterAtEnd = delimiterAtEnd
        limit = RecordLimit(max: maxRecordSize, keepTruncated: keepTruncated)
    }

    /// - Throws: the PCRE2 error text when the pattern does not compile, or Heka's error
    ///   for a pattern with more than one group.
    public init(pattern: String, delimiterAtEnd: Bool = true, maxRecordSize: Int, keepTruncated: Bool) throws(ConfigError) {
        let regex = try CompiledRegex(pattern)
        if let problem = Self.problem(regex) { throw ConfigError(problem) }
        self.init(regex: regex, delimiterAtEnd: delimiterAtEnd, maxRecordSize: maxRecordSize, keepTruncated: keepTruncated)
    }

    static func problem(_ regex: CompiledRegex) -> String? {
        clp_regex_capture_count(regex.re) > 1 ? "regex must not contain more than one capture group: \(regex.pattern)" : nil
    }

    public mutating func feed(_ chunk: [UInt8], _ emit: (UnsafeRawBufferPointer) -> Void) {
        pending += chunk
        var start = 0
        var searchFrom = carried
        while true {
            var ms = 0, me = 0, gs = 0, ge = 0
            let from = max(start + carried, searchFrom)
            guard from <= pending.count else { break }
            let rc = pending.withUnsafeBytes { clp_regex_search_group(regex.re, $0.baseAddress, $0.count, from, &ms, &me, &gs, &ge) }
            guard rc == 1 else { break }
            if me == ms {
                // A zero-width delimiter (a lookahead): it cannot end an empty record, and
                // at the end of the data it waits for more.
                if ms >= pending.count { break }
                if ms <= start { searchFrom = ms + 1; continue }
            }
            let grouped = gs != Int(bitPattern: UInt.max)
            let end = grouped && delimiterAtEnd ? ge : ms
            if end > start {
                pending.withUnsafeBytes { limit.deliver(UnsafeRawBufferPointer(rebasing: $0[start..<end]), emit, &errors) }
            }
            if grouped && !delimiterAtEnd {
                (start, carried) = (gs, ge - gs)
            } else {
                (start, carried) = (me, 0)
            }
            searchFrom = me == ms ? ms + 1 : start + carried  // an empty match must not stall
        }
        if start > 0 { pending.removeFirst(min(start, pending.count)) }
        if pending.count > limit.max {
            pending.withUnsafeBytes { limit.deliver($0, emit, &errors) }
            pending.removeAll()
            carried = 0
        }
    }

    public mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void) {
        defer { pending.removeAll(); carried = 0 }
        if !pending.isEmpty { pending.withUnsafeBytes { limit.deliver($0, emit, &errors) } }
    }

    public mutating func takeErrors() -> [String] {
        defer { errors.removeAll() }
        return errors
    }

    public var buffered: Int { pending.count }
}

/// Heka's `keep_truncated`: a record over the maximum size is cut to it (and delivered)
/// or dropped; either way it is reported.
struct RecordLimit {
    let max: Int
    let keepTruncated: Bool

    func deliver(_ record: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void, _ errors: inout [String]) {
        guard record.count > max else {
            emit(record)
            return
        }
        if keepTruncated {
            // The size seen depends on how the stream was chunked: not in the message.
            errors.append("a record over max_message_size \(max) was truncated")
            emit(UnsafeRawBufferPointer(rebasing: record[0..<max]))
        } else {
            errors.append("a record over max_message_size \(max) was dropped")
        }
    }
}
