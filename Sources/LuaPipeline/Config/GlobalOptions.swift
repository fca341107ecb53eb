import FoundationEssentials
import Glibc

/// Any value, read and dropped: a Heka setting with no meaning here.
struct IgnoredSetting: OptionValue {
    static var typeDoc: String { "any" }
    static func read(_ node: ConfigNode) -> Result<IgnoredSetting, OptionProblem> { .success(IgnoredSetting()) }
    var literal: String? { nil }
}

/// The global section's options, `[luapiped]` (Heka's `[hekad]` is accepted), as written.
struct GlobalOptions: OptionGroup {
    var baseDir = "luapiped-data"
    var shareDir: String?
    var sandboxDir = "lua.d"
    var sandboxDirWatch = "inotify"
    var sandboxDirPollInterval: Seconds = 1
    var sandboxDirDebounce: Seconds = 0.2
    var maxMessageSize = StreamFraming.defaultMaxMessageSize
    var hostname: String?
    var maxMessageLoops = 4
    var maxProcessInject = 1
    var maxTimerInject = 10
    var maxProcessDuration = Seconds(SandboxLimits.defaultMaxProcessDuration)
    var sandboxWorkers: Int?
    var shutdownTimeout: Seconds = 10
    var checkpointInterval: Seconds = 5
    var maxQueueSize = 1 << 30
    var queueSync = "write"
    var adminAddress = ""
    var healthWindow: Seconds = 60
    var reportInterval: Seconds = 60
    /// Where Heka's settings that mean nothing here are read to (all the same slot).
    var hekaOnly: IgnoredSetting?

    static let options: [OptionSpec<Self>] = [
        .init("base_dir", \.baseDir, "state: preserved sandbox data, journals, checkpoints (relative to the config)"),
        .init("share_dir", \.shareDir, "read-only files: bundled Lua scripts and modules (default: LUAPIPED_LUA_DIR, else the lua/ folder beside the binary, ../share/luapiped/lua from it, the source tree above it, /usr/share/luapiped/lua)"),
        .init("sandbox_dir", \.sandboxDir, "the drop-in script directory (`--sandbox-dir` wins)"),
        .init("sandbox_dir_watch", \.sandboxDirWatch, allowed: ["inotify", "poll", "off"],
              "how the drop-in directory is watched: inotify (polling where inotify is unavailable), poll, or off"),
        .init("sandbox_dir_poll_interval", \.sandboxDirPollInterval, "how often the drop-in directory is scanned when polling (and as a safety net under inotify)"),
        .init("sandbox_dir_debounce", \.sandboxDirDebounce, "quiet time after the last change before reloading (editors write in several steps)"),
        .init("max_message_size", \.maxMessageSize, "largest message in bytes"),
        .init("hostname", \.hostname, "the Hostname of messages made here (default: the machine's)"),
        .init("max_message_loops", \.maxMessageLoops, "how often a message may pass through filters"),
        .init("max_process_inject", \.maxProcessInject, "messages a filter may inject per process_message"),
        .init("max_timer_inject", \.maxTimerInject, "messages a filter may inject per timer_event"),
        .init("max_process_duration", \.maxProcessDuration, "wall clock per sandbox call"),
        .init("shutdown_timeout", \.shutdownTimeout, "longest a stop (SIGTERM, SIGINT) waits for plugins to drain; what is left is read again at the next start"),
        .init("checkpoint_interval", \.checkpointInterval, "how often a consistent checkpoint of filters' preserved state and the log inputs' positions is committed, so aggregates stay exact across a crash (0: never; state is then saved at a clean stop only; see docs/checkpoints.md)"),
        .init("max_queue_size", \.maxQueueSize, "bytes the durable queue of `disk` messages (base_dir/queue) may hold; when full, `disk` inputs stop reading and acknowledging until the slowest reader catches up (docs/delivery.md)"),
        .init("queue_sync", \.queueSync, allowed: ["write", "fsync"], "when a `disk` message is acknowledged: after write(2) (survives kill -9) or after a group-commit fdatasync (survives power loss)"),
        .init("admin_address", \.adminAddress, "host:port of the admin HTTP server: GET /health and GET /metrics (Prometheus); empty: off (docs/monitoring.md)"),
        .init("health_window", \.healthWindow, "how long a plugin's termination keeps /health unhealthy (0: only while it is terminated or restarting)"),
        .init("report_interval", \.reportInterval, "how often a heka.all-report message (Heka's JSON self-report) is emitted; SIGUSR1 emits one at once and logs the counters (0: only on SIGUSR1)"),
        .init("sandbox_workers", \.sandboxWorkers, "threads that run sandboxed filters, each filter pinned to one (default: the number of cores)"),
    ] + ["maxprocs", "poolsize", "plugin_chansize", "max_pack_idle", "cpuprof", "memprof", "pid_file", "sample_denominator", "log_flags",
         "full_buffer_max_retries"].map {
        .init($0, \.hekaOnly, "Heka's (its Go runtime, pack pool or profiling): accepted so Heka configs load, no effect")
    }

    /// The settings, with paths resolved against `directory` (`sandboxDir` given: the
    /// `--sandbox-dir` override, against the working directory).
    func resolved(directory: String, sandboxDir override: String?) -> GlobalConfig {
        let bundled = ModuleSearchPath.bundledLuaDirectory()
        let share = shareDir.map { PipelineConfig.resolve($0, against: directory) } ?? bundled
        return GlobalConfig(
            baseDir: PipelineConfig.resolve(baseDir, against: directory),
            shareDir: share, bundledFallbackDir: bundled == share ? nil : bundled,
            sandboxDir: override.map { PipelineConfig.resolve($0, against: FileSystem.currentDirectory()) }
                ?? PipelineConfig.resolve(sandboxDir, against: directory),
            maxMessageSize: maxMessageSize, hostname: hostname ?? Sandbox.defaultHostname(), maxMessageLoops: maxMessageLoops,
            maxProcessInject: maxProcessInject, maxTimerInject: maxTimerInject, maxProcessDuration: maxProcessDuration.value,
            sandboxWorkers: sandboxWorkers ?? ProcessFacts.activeProcessorCount(), sandboxDirWatch: sandboxDirWatch,
            sandboxDirPollInterval: sandboxDirPollInterval.value, sandboxDirDebounce: sandboxDirDebounce.value,
            shutdownTimeout: shutdownTimeout.value, checkpointInterval: checkpointInterval.value,
            maxQueueSize: maxQueueSize, queueSync: DurableLog.Sync(rawValue: queueSync) ?? .write,
            adminAddress: adminAddress, healthWindow: healthWindow.value, reportInterval: reportInterval.value)
    }
}
