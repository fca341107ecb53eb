import FoundationEssentials

/// What a store's answer to one request (a batch of messages) means for those messages.
enum HttpVerdict: Equatable {
    case delivered
    /// Worth sending again as it is (the store is down, busy or slow).
    case retry(String)
    /// Refused: some message in the batch is bad (a 4xx, a ClickHouse data error). One
    /// message alone is skipped; a batch is cut in two until the bad ones are alone.
    case refused(String)
    /// A 200 whose bulk answer refused some items (Elasticsearch): the items to send
    /// again, and the items refused for good with why, by index in the batch.
    case partial(retry: [Int], refused: [(Int, String)])

    static func == (a: HttpVerdict, b: HttpVerdict) -> Bool {
        switch (a, b) {
        case (.delivered, .delivered): true
        case (.retry(let x), .retry(let y)), (.refused(let x), .refused(let y)): x == y
        case (.partial(let r1, let f1), .partial(let r2, let f2)): r1 == r2 && f1.map(\.0) == f2.map(\.0) && f1.map(\.1) == f2.map(\.1)
        default: false
        }
    }
}

enum HttpStoreAnswer {
    /// ClickHouse error codes that mean the data is bad (a value that does not parse, a
    /// type mismatch, an unknown column, a row cut short), not the query or the server.
    /// ClickHouse 18.16 answers them with 500 (27, 117) or 400 (26); sending the batch
    /// again would fail the same way, so it is cut down to the bad rows. Any other code
    /// (no such table 60, a syntax error 62, authentication) is the store's configuration:
    /// retried, so the messages wait until it is fixed.
    static let clickHouseDataErrors: Set<Int> = [
        6,    // CANNOT_PARSE_TEXT
        26,   // CANNOT_PARSE_QUOTED_STRING
        27,   // CANNOT_PARSE_INPUT_ASSERTION_FAILED
        32,   // ATTEMPT_TO_READ_AFTER_EOF
        33,   // CANNOT_READ_ALL_DATA
        38,   // CANNOT_PARSE_DATE
        41,   // CANNOT_PARSE_DATETIME
        53,   // TYPE_MISMATCH
        69,   // ARGUMENT_OUT_OF_BOUND
        70,   // CANNOT_CONVERT_TYPE
        72,   // CANNOT_PARSE_NUMBER
        117,  // INCORRECT_DATA (an unknown field)
        131,  // TOO_LARGE_STRING_SIZE
    ]

    /// The `N` of a body starting `Code: N` (ClickHouse's error form).
    static func clickHouseCode(_ body: String) -> Int? {
        guard body.hasPrefix("Code: ") else { return nil }
        return Int(body.dropFirst(6).prefix { $0.isNumber })
    }

    /// The verdict on a status and body. `bulk`: the body is an Elasticsearch bulk answer
    /// of `count` items.
    static func verdict(status: Int, body: String, bulk: Bool, count: Int) -> HttpVerdict {
        let answer = "answered \(status)" + (body.isEmpty ? "" : ": \(excerpt(body))")
        let code = clickHouseCode(body)
        switch status {
        case 200..<300:
            return bulk ? bulkVerdict(body, count: count) : .delivered
        case 408, 429:
            return .retry(answer)
        case _ where code != nil:
            return clickHouseDataErrors.contains(code!) ? .refused(answer) : .retry(answer)
        case 500..<600:
            return .retry(answer)
        default:
            return .refused(answer)
        }
    }

    /// An Elasticsearch bulk answer: `errors` false means all stored; else each item's
    /// status says (429 and 5xx again, other failures refused).
    static func bulkVerdict(_ body: String, count: Int) -> HttpVerdict {
        guard let json = try? JSONParser.parse(body) else { return .retry("a bulk answer that is not JSON: \(excerpt(body))") }
        if case .bool(false)? = json["errors"] { return .delivered }
        guard case .array(let items)? = json["items"], items.count == count else {
            return .retry("a bulk answer without one item per document: \(excerpt(body))")
        }
        var retry: [Int] = []
        var refused: [(Int, String)] = []
        for (i, item) in items.enumerated() {
            // Each item is {"index": {...}} (or create, update, delete).
            guard case .object(let kv) = item, let result = kv.first?.1 else { continue }
            var status = 200
            if case .integer(let s)? = result["status"] { status = Int(s) }
            guard status >= 300 else { continue }
            if status == 429 || status >= 500 {
                retry.append(i)
            } else {
                refused.append((i, "item refused with \(status): \(excerpt(result["error"].map(describe) ?? ""))"))
            }
        }
        return retry.isEmpty && refused.isEmpty ? .delivered : .partial(retry: retry, refused: refused)
    }

    private static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): s
        case .object:
            [v["type"], v["reason"]].compactMap { if case .string(let s)? = $0 { s } else { nil } }.joined(separator: ": ")
        default: "\(v)"
        }
    }

    static func excerpt(_ s: String) -> String {
        let line = s.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }
}
