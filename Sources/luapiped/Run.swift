import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import Dispatch
import LuaPipeline
import Synchronization

/// `luapiped run [-c FILE|DIR]`: the daemon.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline (default: the embedded default config: stdin → LogOutput).",
        discussion: """
            SIGTERM or SIGINT stop it gracefully (drain, last timer_event, preserve_data); so does the end of every input. \
            SIGHUP reads the config again and applies what changed; scripts in the drop-in directory are reloaded as they change.
            """)

    @Option(name: .shortAndLong, help: "Config file, or a directory whose *.toml files are read in name order.")
    var config: String?

    @Flag(name: .shortAndLong, help: "Log per-plugin counters every 10 s and when stopping.") var verbose = false

    @Option(name: .customLong("sandbox-dir"), help: "The drop-in script directory (wins over sandbox_dir in the config).")
    var sandboxDir: String?

    func run() throws {
        MessageMemory.tuneAllocator()
        let cfg: PipelineConfig
        let pipeline: Pipeline
        do {
            cfg = try config.map { try PipelineConfig.load(path: $0, sandboxDir: sandboxDir) }
                ?? DefaultConfig.load(directory: FileSystem.currentDirectory(), sandboxDir: sandboxDir)
            pipeline = try Pipeline(config: cfg)
            try pipeline.open()
        } catch {
            writeStandardError("\(error)\n")
            throw ExitCode(1)
        }
        if config == nil {
            writeStandardError("luapiped \(LuaPipelineVersion.string): embedded default: TCP 127.0.0.1:5565 (framed protobuf), UDP 127.0.0.1:5566 (text), StatsD UDP 127.0.0.1:8125, stdin (lines) -> LogOutput (JSON); health and metrics on http://127.0.0.1:4352/health and /metrics; Ctrl-C stops\n")
        }
        var sources: [DispatchSourceSignal] = []
        let signals = Atomic<Int>(0)
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
                if signals.add(1, ordering: .relaxed).newValue == 1 {
                    writeStandardError("luapiped: \(name): stopping (a second signal exits at once)\n")
                    pipeline.requestStop()
                } else {
                    // Journals and cursors cover only what was acknowledged: what is in
                    // flight is read again at the next start.
                    writeStandardError("luapiped: \(name) again: exiting now, without waiting for the drain\n")
                    Glibc.exit(0)
                }
            }
            s.resume()
            sources.append(s)
        }
        signal(SIGHUP, SIG_IGN)  // until the pipeline runs
        pipeline.start()
        // SIGHUP: read the config again; a broken one is reported and the running one stays.
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "luapiped.sighup"))
        hup.setEventHandler {
            writeStandardError("luapiped: SIGHUP: reading the config again\n")
            pipeline.reloadConfig()
        }
        hup.resume()
        sources.append(hup)
        // SIGUSR1: the counters in the log and a heka.all-report message (Heka's habit).
        signal(SIGUSR1, SIG_IGN)
        let usr1 = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        usr1.setEventHandler {
            pipeline.report()
            pipeline.emitAllReport()
        }
        usr1.resume()
        sources.append(usr1)
        writeStandardError("luapiped \(LuaPipelineVersion.string): running \(cfg.plugins.count) plugins (pid \(getpid())); watching \(cfg.global.sandboxDir); SIGHUP reloads the config\n")
        pipeline.runUntilInputsEnd(reportEvery: verbose ? 10 : nil)
        if verbose { pipeline.report() }
        _ = sources
    }
}

/// `luapiped check -c FILE|DIR`: validate the config and compile every script.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config and compile every script without starting anything (exit 0 clean, 1 otherwise).")

    @Option(name: .shortAndLong, help: "Config file or directory.") var config: String

    @Option(name: .customLong("sandbox-dir"), help: "The drop-in script directory (wins over sandbox_dir in the config).")
    var sandboxDir: String?

    func run() throws {
        let cfg: PipelineConfig
        let problems = Mutex<[String]>([])
        do {
            cfg = try PipelineConfig.load(path: config, sandboxDir: sandboxDir)
            _ = try Pipeline(config: cfg, log: PipelineLog(sink: { line in problems.withLock { $0.append(line) } }))
        } catch {
            writeStandardError("\(error)\n")
            throw ExitCode(1)
        }
        // Drop-in plugins that do not load are only logged by a running daemon; check fails on them.
        let dropIns = cfg.dropInErrors.map(\.description) + problems.withLock { $0 }.filter { $0.hasPrefix("sandbox_dir:") }
        if !dropIns.isEmpty {
            writeStandardError((dropIns.joined(separator: "\n") + "\n"))
            throw ExitCode(1)
        }
        print("\(config): OK (\(cfg.plugins.count) plugins)")
    }
}
