import ArgumentParser
import FoundationEssentials
import Glibc
import LuaPipeline

/// `luapiped test SCRIPT …`: run one plugin on given input and print what it injects.
struct TestScript: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run one decoder, filter or encoder script on input and print what it injects.",
        discussion: """
            Exit status: 0 when the script ran to the end (counted failures included), 1 when \
            it does not load, 2 when the sandbox was terminated (stderr then has a line \
            starting with 'terminated:').
            """
    )

    @Argument(help: "The Lua script.") var script: String
    @Option(help: "decoder, filter or encoder (default: from the script's folder, else filter).")
    var type: PluginKindArgument?
    @Option(help: "Input file, or - for standard input.") var input: String = "-"
    @Option(help: "lines, json or framed (default: lines for decoders, json otherwise).")
    var format: InputFormatArgument?
    @Option(help: "Message matcher for filters and encoders (default: every message).") var matcher: String?
    @Option(name: .customLong("config"), help: "KEY=VALUE for read_config (repeatable).") var config: [String] = []
    @Option(name: .customLong("memory-limit"), help: "Bytes of Lua memory (default 8 MiB).") var memoryLimit: Int?
    @Option(name: .customLong("instruction-limit"), help: "Instructions per call (default 1000000).") var instructionLimit: UInt64?
    @Option(name: .customLong("output-limit"), help: "Bytes per injected payload or message (default 64 KiB).") var outputLimit: Int?
    @Option(name: .customLong("max-process-duration"), help: "Seconds of wall clock per call (default 5).") var maxProcessDuration: Double?
    @Option(name: .customLong("timer-every"), help: "Filters: call timer_event after every N messages.") var timerEvery: Int = 0
    @Flag(help: "Print counters as a JSON object, last line on stderr (exact instruction counts).") var stats = false
    @Option(name: .customLong("modules"), help: "Extra module directory for require (repeatable).") var modules: [String] = []
    @Option(help: "Restore preserved globals from FILE before the first call; write them back at the end.") var state: String?
    @Option(help: "json or none.") var output: OutputFormatArgument = .json

    func validate() throws {
        for c in config where !c.contains("=") {
            throw ValidationError("--config expects KEY=VALUE, got '\(c)'")
        }
        if timerEvery < 0 { throw ValidationError("--timer-every must be >= 0") }
        let kind = type?.kind ?? ModuleSearchPath.kind(forScript: script) ?? .filter
        if matcher != nil && kind == .decoder {
            throw ValidationError("--matcher selects messages for filters and encoders; a decoder reads every input record")
        }
        if timerEvery > 0 && kind != .filter {
            throw ValidationError("--timer-every applies to filters (decoders and encoders have no timer_event)")
        }
    }

    func run() throws {
        MessageMemory.tuneAllocator()
        var o = ScriptTestOptions(scriptPath: script)
        o.kind = type?.kind
        o.inputPath = input
        o.format = format?.format
        if let matcher {
            do {
                let m = try MessageMatcher(matcher)
                o.matcher = { m.matches($0) }
            } catch {
                throw ValidationError("\(error)")
            }
        }
        for c in config {
            let parts = c.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            o.config[String(parts[0])] = ConfigValue(parsing: String(parts[1]))
        }
        if let memoryLimit { o.limits.memory = memoryLimit }
        if let instructionLimit { o.limits.instructions = instructionLimit }
        if let outputLimit { o.limits.output = outputLimit }
        if let maxProcessDuration { o.limits.maxProcessDuration = maxProcessDuration }
        o.timerEvery = timerEvery
        o.stats = stats
        o.modulePaths = modules
        o.statePath = state
        o.output = output.format
        let runner = ScriptTestRunner(options: o, out: ByteSink(fd: 1), err: ByteSink(fd: 2))
        let outcome: ScriptTestOutcome
        do {
            outcome = try runner.run()
        } catch {
            writeStandardError("error: \(error)\n")
            throw ExitCode(1)
        }
        if outcome != .completed { throw ExitCode(outcome.rawValue) }
    }
}

enum PluginKindArgument: String, ExpressibleByArgument, CaseIterable {
    case decoder, filter, encoder
    var kind: PluginKind { PluginKind(rawValue: rawValue)! }
}

enum InputFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case lines, json, framed
    var format: ScriptTestOptions.InputFormat { .init(rawValue: rawValue)! }
}

enum OutputFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case json, none
    var format: ScriptTestOptions.OutputFormat { .init(rawValue: rawValue)! }
}
