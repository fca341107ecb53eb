import CLua

/// Records are separated by a regular expression (Heka's RegexSplitter): with
/// `delimiter_eol` the match ends a record (and belongs to it), otherwise it starts the
/// next one. (Heka's capture-group form, keeping only part of the delimiter, is not
/// supported: the whole match is kept.)
public struct RegexSplitter: Splitter {
    let regex: CompiledRegex
    let delimiterAtEnd: Bool
    let limit: RecordLimit
    private var pending: [UInt8] = []
    private var errors: [String] = []

    init(regex: CompiledRegex, delimiterAtEnd: Bool = true, maxRecordSize: Int, keepTruncated: Bool) {
        self.regex = regex
        self.delimiterAtEnd = delimiterAtEnd
        limit = RecordLimit(max: maxRecordSize, keepTruncated: keepTruncated)
    }

    /// - Throws: the PCRE2 error text when the pattern does not compile.
    public init(pattern: String, delimiterAtEnd: Bool = true, maxRecordSize: Int, keepTruncated: Bool) throws(ConfigError) {
        self.init(regex: try CompiledRegex(pattern), delimiterAtEnd: delimiterAtEnd, maxRecordSize: maxRecordSize, keepTruncated: keepTruncated)
    }

    public mutating func feed(_ chunk: [UInt8], _ emit: (UnsafeRawBufferPointer) -> Void) {
        pending += chunk
        var start = 0
        while true {
            var ms = 0, me = 0
            // Searching from just after `start` when the delimiter begins records, so a
            // record's own leading delimiter does not end it empty.
            let from = delimiterAtEnd ? start : start + 1
            guard from <= pending.count else { break }
            let rc = pending.withUnsafeBytes { clp_regex_search(regex.re, $0.baseAddress, $0.count, from, &ms, &me) }
            guard rc == 1, me > ms || me > from else { break }
            let end = delimiterAtEnd ? me : ms
            if end > start {
                pending.withUnsafeBytes { limit.deliver(UnsafeRawBufferPointer(rebasing: $0[start..<end]), emit, &errors) }
            }
            start = end
            if me == ms { start += 1 }  // an empty match must not stall
        }
        if start > 0 { pending.removeFirst(min(start, pending.count)) }
        if pending.count > limit.max {
            pending.withUnsafeBytes { limit.deliver($0, emit, &errors) }
            pending.removeAll()
        }
    }

    public mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void) {
        defer { pending.removeAll() }
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
