import FoundationEssentials
import Glibc
import Synchronization

/// One running plugin as the registry, the reloader and the stop see it. Inputs, filters and
/// outputs each implement it (``ManagedInput``, ``ManagedFilter``, ``ManagedOutput``), so
/// none of those three ever asks which kind a plugin is.
///
/// Reloads are serialised (``Pipeline/reloading``): ``replace(with:in:fingerprint:reason:using:host:)`` and
/// ``remove(host:)`` are never called concurrently for one plugin.
protocol ManagedPlugin: AnyObject, Sendable {
    var name: String { get }
    var category: PluginCategory { get }
    var counters: PluginCounters { get }
    /// The version running now: its section and fingerprint, and the modules it required.
    var version: PluginVersion { get }

    /// What identifies the version `p` would be: type, section, script texts and those of
    /// the sections it refers to.
    func fingerprint(of p: PluginConfig, in config: PipelineConfig) -> String
    /// Why `p` would need a new version (nil: the running one is it). `fingerprint`: of `p`.
    func change(to p: PluginConfig, fingerprint: String, changedModules: Set<String>) -> String?

    /// Binds what it listens on (before ``start(on:)``); a failure names the address.
    func open() throws(ConfigError)
    /// Starts its thread or hands it to its worker.
    func start(on host: PluginHost)
    /// Builds `p` (whose ``fingerprint(of:in:)`` is `fp`) beside the running version and
    /// hands over to it. Returns what to record
    /// (nil when the plugin reports the outcome itself, after its new version's trial).
    func replace(with p: PluginConfig, in config: PipelineConfig, fingerprint fp: String, reason: String, using builder: PluginBuilder,
                 host: PluginHost) -> ReloadEvent?
    /// Starts stopping it for good (its section or script is gone); see ``drained(until:host:)``.
    func remove(host: PluginHost)
    /// Waits until a removal finished, at most until `deadline`; what to record (nil: it
    /// reported itself).
    func drained(until deadline: Date, host: PluginHost) -> ReloadEvent?

    // The stop, in this order, each step called on every plugin:
    /// Step 1: stop acquiring and wait until its thread ended, at most until `deadline` (inputs).
    func stopAcquiring(until deadline: Date)
    /// Step 2, once the router drained: checkpoints for what was acknowledged (journals),
    /// and readers finish (last `timer_event`, state saved).
    func settle()
    /// Step 3: a reader still not drained gives up what it holds (outputs).
    func abandon()

    /// Whether it has finished on its own (an input reached its end; a filter gave up).
    var isFinished: Bool { get }
}

extension ManagedPlugin {
    func change(to p: PluginConfig, fingerprint: String, changedModules: Set<String>) -> String? {
        version.change(to: p, fingerprint: fingerprint, changedModules: changedModules)
    }

    func fingerprint(of p: PluginConfig, in config: PipelineConfig) -> String { Pipeline.fingerprint(p, in: config) }

    func open() throws(ConfigError) {}
    func stopAcquiring(until deadline: Date) {}
    func settle() {}
    func abandon() {}
}

/// A running plugin's version: what the reloader compares a new config against.
struct PluginVersion: Sendable {
    var config: PluginConfig
    var fingerprint: String
    var modules: Set<String>

    /// Why `p` is a new version (nil: it is this one).
    func change(to p: PluginConfig, fingerprint now: String, changedModules: Set<String>) -> String? {
        if fingerprint != now { return p.dropIn ? "script or settings changed" : "section or script changed" }
        if modules.isDisjoint(with: changedModules) { return nil }
        return "module \(modules.intersection(changedModules).sorted().joined(separator: ", ")) changed"
    }
}

/// A plugin's version, readable from any thread, replaced by the reloader.
final class VersionBox: Sendable {
    private let value: Mutex<PluginVersion>
    init(_ v: PluginVersion) { value = Mutex(v) }
    var current: PluginVersion {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// What a plugin needs from the pipeline to run: threads that the stop waits for, the
/// filters' worker pool, the router.
protocol PluginHost: AnyObject, Sendable {
    var router: Router { get }
    var pool: SandboxWorkerPool { get }
    /// How long a stop or a replacement waits for a reader before giving up on it.
    var drainTimeout: Double { get }
    /// Runs `body` on a new thread the stop waits for.
    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void)
}

extension ReloadEvent {
    /// A version that did not build: the running one (if any) stays.
    static func rejected(_ name: String, _ notes: PluginBuilder.Notes, adding: Bool) -> ReloadEvent {
        let detail = notes.errors.map(\.reason).joined(separator: "; ")
        return ReloadEvent(plugin: name, action: .rejected, detail: adding ? "not started: \(detail)" : "new version not loaded: \(detail)")
    }
}
