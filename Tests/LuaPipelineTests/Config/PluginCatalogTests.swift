import Foundation
import Testing
@testable import LuaPipeline

/// Walks the catalog: every type is documented, constructible from its defaults plus its
/// required keys, and refuses an unknown key with file, line, section and key.
@Suite struct PluginCatalogTests {
    let dir = temporaryDirectory()

    /// A value for each required key (a new required key needs one here).
    static let samples: [String: String] = [
        "filename": "\"script.lua\"", "message_matcher": "\"TRUE\"", "log_directory": "\"logs\"", "file_path": "\"/proc/loadavg\"", "file_match": "'access\\.log$'",
        "delimiter": "'\\n'", "subs": "[\"sub\"]", "path": "\"out.txt\"", "address": "\"127.0.0.1:1\"",
        "send_from": "\"a@example.com\"", "send_to": "[\"b@example.com\"]", "subject": "\"test.subject\"",
    ]

    private func section(_ type: PluginType, name: String = "p", extra: String = "") throws -> String {
        var lines = ["[\(name)]", "type = \"\(type.name)\""]
        for o in type.reference where o.requirement == "required" {
            lines.append("\(o.key) = \(try #require(Self.samples[o.key], "no sample value for the required key \(o.key) of \(type.name)"))")
        }
        if type.name == "FileOutput" { lines.append("encoder = \"enc\"") }
        return (lines + [extra]).joined(separator: "\n") + "\n"
    }

    private func parse(_ text: String) throws -> PipelineConfig {
        FileManager.default.createFile(atPath: dir.appendingPathComponent("script.lua").path, contents: Data("function process_message() return 0 end\n".utf8))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let text = "[luapiped]\nsandbox_dir_watch = \"off\"\n\n[sub]\ntype = \"ProtobufDecoder\"\n\n[enc]\ntype = \"JsonEncoder\"\n\n" + text
        let path = dir.appendingPathComponent("catalog.toml").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return try PipelineConfig.load(path: path)
    }

    @Test func everyDeclaredKeyIsInTheGeneratedReference() {
        let doc = ConfigReference.markdown()
        for t in PluginCatalog.all {
            let start = try! #require(doc.range(of: "### \(t.name)\n"))
            let rest = doc[start.upperBound...]
            let body = rest[..<(rest.range(of: "\n### ")?.lowerBound ?? rest.endIndex)]
            func walk(_ docs: [OptionDoc]) {
                for o in docs {
                    #expect(body.contains("`\(o.key)` ("), "\(t.name).\(o.key) is not in the reference")
                    #expect(!o.doc.isEmpty, "\(t.name).\(o.key) has no doc")
                    walk(o.nested)
                }
            }
            walk(t.reference)
        }
        for o in GlobalOptions.reference { #expect(doc.contains("`\(o.key)` ("), "global \(o.key) is not in the reference") }
    }

    @Test func everyTypeIsConstructibleFromItsDefaultsAndRequiredKeys() throws {
        for t in PluginCatalog.all {
            let config = try parse(try section(t))
            let p = try #require(config.plugin(named: "p"))
            let router = Router(maxMessageLoops: 4)
            let ctx = BuildContext(plugin: p, config: config, router: router, counters: PluginCounters(name: "p", category: t.category),
                                   log: PipelineLog(sink: { _ in }), stdin: -1, accumulators: StatAccumulators(), events: { _, _ in })
            switch p.build {
            case .input(let make): _ = try make(ctx)
            case .splitter(let make): _ = make(1024)()
            case .decoder(let make): _ = try make(ctx, "in")
            case .filter(let make, let replacement):
                _ = try make(ctx)
                _ = try replacement(ctx, "a new version")
            case .encoder(let make): _ = try make(ctx)
            case .output(let make): _ = try make(ctx, router.addReader(name: "p", buffering: Buffering(maxBufferSize: 1 << 20, fullAction: .drop)))
            }
        }
    }

    @Test func anUnknownKeyIsAnErrorNamingFileLineSectionAndKey() throws {
        for t in PluginCatalog.all {
            do {
                _ = try parse(try section(t, extra: "colour = \"blue\""))
                Issue.record("\(t.name) accepted an unknown key")
            } catch let error as ConfigErrors {
                let file = dir.appendingPathComponent("catalog.toml").path
                let line = 9 + 2 + t.reference.filter { $0.requirement == "required" }.count + (t.name == "FileOutput" ? 1 : 0) + 1
                #expect(error.errors.map(\.description).contains { $0.hasPrefix("\(file):\(line): [p] colour: unknown key") },
                        "\(t.name): \(error)")
            }
        }
    }
}
