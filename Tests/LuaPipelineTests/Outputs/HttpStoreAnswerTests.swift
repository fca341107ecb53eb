import Testing
@testable import LuaPipeline

/// How HttpOutput reads a store's answer (the bodies are ClickHouse 18.16's and
/// Elasticsearch's own forms).
@Suite struct HttpStoreAnswerTests {
    func verdict(_ status: Int, _ body: String = "", bulk: Bool = false, count: Int = 1) -> HttpVerdict {
        HttpStoreAnswer.verdict(status: status, body: body, bulk: bulk, count: count)
    }

    @Test func statusesWithoutABody() {
        #expect(verdict(200) == .delivered)
        #expect(verdict(204) == .delivered)
        #expect(verdict(503) == .retry("answered 503"))
        #expect(verdict(408) == .retry("answered 408"))
        #expect(verdict(429) == .retry("answered 429"))
        #expect(verdict(400, "bad line") == .refused("answered 400: bad line"))
    }

    @Test func clickHouseErrorsAreReadByTheirCode() {
        let badValue = "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected \" before: notanint\n"
        #expect(verdict(500, badValue) == .refused("answered 500: \(badValue.dropLast())"))
        let badString = "Code: 26, e.displayText() = DB::Exception: Cannot parse JSON string: expected opening quote"
        #expect(verdict(400, badString) == .refused("answered 400: \(badString)"))
        let unknownField = "Code: 117, e.displayText() = DB::Exception: Unknown field found while parsing JSONEachRow format: extra"
        #expect(verdict(500, unknownField) == .refused("answered 500: \(unknownField)"))
        // The store's configuration, not the data: retried, nothing skipped.
        let noTable = "Code: 60, e.displayText() = DB::Exception: Table default.nosuch doesn't exist."
        #expect(verdict(404, noTable) == .retry("answered 404: \(noTable)"))
        let syntax = "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1"
        #expect(verdict(400, syntax) == .retry("answered 400: \(syntax)"))
        let memory = "Code: 241, e.displayText() = DB::Exception: Memory limit exceeded"
        #expect(verdict(500, memory) == .retry("answered 500: \(memory)"))
    }

    @Test func elasticsearchBulkAnswers() {
        #expect(verdict(200, #"{"took":1,"errors":false,"items":[{"index":{"status":201}}]}"#, bulk: true) == .delivered)
        let mixed = #"""
            {"took":3,"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}},{"index":{"status":503}}]}
            """#
        #expect(verdict(200, mixed, bulk: true, count: 4)
            == .partial(retry: [1, 3], refused: [(2, "item refused with 400: mapper_parsing_exception: failed to parse")]))
        // An answer that cannot be matched to the batch is not trusted: sent again.
        #expect(verdict(200, #"{"errors":true,"items":[]}"#, bulk: true, count: 2) == .retry(#"a bulk answer without one item per document: {"errors":true,"items":[]}"#))
        #expect(verdict(200, "<html>", bulk: true) == .retry("a bulk answer that is not JSON: <html>"))
    }
}
