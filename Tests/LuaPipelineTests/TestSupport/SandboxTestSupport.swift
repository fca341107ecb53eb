import Foundation
@testable import LuaPipeline

/// A sandbox running `source` as `test.lua`, collecting what it injects.
final class ScriptHarness {
    let sandbox: Sandbox
    /// Copies of what the script injected (the callback's bytes are transient).
    enum Injected {
        case message(MessageView)
        case payload(type: String, name: String, bytes: [UInt8])
    }
    var injected: [Injected] = []
    var logs: [String] = []

    init(_ source: String, kind: PluginKind = .filter, limits: SandboxLimits = SandboxLimits(),
         config: [String: ConfigValue] = [:], modulePaths: [String] = [], name: String = "test") throws {
        sandbox = Sandbox(kind: kind, name: name, limits: limits, config: config, modulePaths: modulePaths,
                          hostname: "testhost", pid: 42, uuids: .deterministic)
        sandbox.clock = { 1_000 }
        sandbox.onInject = { [unowned self] injection in
            switch injection {
            case .message: injected.append(.message(sandbox.view(of: injection)!))
            case .payload(let type, let name, let bytes): injected.append(.payload(type: type, name: name, bytes: Array(bytes)))
            }
            return .accept
        }
        sandbox.onLog = { [unowned self] _, line in logs.append(line) }
        try sandbox.load(script: Array(source.utf8), chunkName: "test.lua")
    }

    /// The injected messages in tree form.
    var messages: [Message] {
        injected.compactMap { if case .message(let v) = $0 { return v.decoded() } else { return nil } }
    }

    @discardableResult
    func process(_ message: Message = ScriptHarness.sample) -> ProcessResult {
        sandbox.processMessage(MessageView(message))
    }

    /// A message with every header and a few fields.
    static let sample = Message(
        uuid: Array(0..<16), timestamp: 1_795_514_400_123_456_789, type: "nginx.access", logger: "input",
        severity: 6, payload: "GET / 200", envVersion: "0.8", pid: 1234, hostname: "web1",
        fields: [
            Field(name: "status", value: .integer([200])),
            Field(name: "bytes", value: .integer([5120]), representation: "B"),
            Field(name: "multi", value: .string(["a", "b", "c"])),
            Field(name: "ratio", value: .double([0.25])),
            Field(name: "ok", value: .bool([true])),
            Field(name: "multi", value: .string(["second"])),
        ])
}

/// The reason of a terminated result, or nil.
func terminationReason(_ r: ProcessResult) -> String? {
    if case .terminated(let e) = r { return e.message }
    return nil
}

/// A fresh temporary directory.
func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("luapiped-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The repository's root (tests read the bundled lua/ tree from it).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
