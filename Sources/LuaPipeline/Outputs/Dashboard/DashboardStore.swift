import FoundationEssentials
import Glibc
import Synchronization

/// What the dashboard shows, kept by DashboardOutput and served by the admin server: the
/// latest `heka.sandbox-output` payload of each output (Heka's file names: `PLUGIN.NAME.TYPE`,
/// at most `max_outputs`), the last 100 terminations and the latest `heka.all-report`.
/// Written to `working_directory` (each file replaced by rename) every `ticker_interval`,
/// and read back at start, so a restarted daemon serves what it had before anything new.
final class DashboardStore: Sendable {
    struct Output: Sendable {
        let id: String, plugin: String, name: String, type: String
        let updatedNanos: Int64
        let payload: [UInt8]
    }

    struct Termination: Sendable {
        let plugin: String, reason: String, nanos: Int64
    }

    private struct State {
        var outputs: [String: Output] = [:]
        var terminations: [Termination] = []
        var dirty: Set<String> = []
        var terminationsDirty = false
        var refused = 0
    }

    let directory: String
    let staticDirectory: String
    let maxOutputs: Int
    private let state = Mutex(State())
    static let keptTerminations = 100
    /// Where changes are announced (`/api/stream`).
    let hub: EventHub

    init(directory: String, staticDirectory: String, maxOutputs: Int, hub: EventHub) {
        self.directory = directory
        self.staticDirectory = staticDirectory
        self.maxOutputs = maxOutputs
        self.hub = hub
        load()
    }

    static func entry(_ o: Output) -> JSONValue {
        .object([("id", .string(o.id)), ("plugin", .string(o.plugin)), ("name", .string(o.name)), ("type", .string(o.type)),
                 ("updated_ns", .integer(o.updatedNanos)), ("bytes", .integer(Int64(o.payload.count)))])
    }

    /// Keeps a payload; false when `max_outputs` other outputs are already kept.
    @discardableResult
    func put(_ o: Output) -> Bool {
        let kept = state.withLock { s in
            guard s.outputs[o.id] != nil || s.outputs.count < maxOutputs else {
                s.refused += 1
                return false
            }
            s.outputs[o.id] = o
            s.dirty.insert(o.id)
            return true
        }
        if kept { hub.publish("output", Self.entry(o).text) }
        return kept
    }

    func put(_ t: Termination) {
        state.withLock { s in
            s.terminations.append(t)
            if s.terminations.count > Self.keptTerminations { s.terminations.removeFirst(s.terminations.count - Self.keptTerminations) }
            s.terminationsDirty = true
        }
        hub.publish("terminated", Self.entry(t).text)
    }

    var outputs: [Output] { state.withLock { $0.outputs.values.sorted { $0.id < $1.id } } }
    func output(_ id: String) -> Output? { state.withLock { $0.outputs[id] } }
    var terminations: [Termination] { state.withLock { $0.terminations } }

    /// The list `/api/outputs` serves.
    var listing: JSONValue { .array(outputs.map(Self.entry)) }

    static func entry(_ t: Termination) -> JSONValue {
        .object([("plugin", .string(t.plugin)), ("reason", .string(t.reason)), ("time_ns", .integer(t.nanos))])
    }

    var terminationListing: JSONValue { .array(terminations.map(Self.entry)) }

    // MARK: files

    private var dataDirectory: String { Path.join(directory, "data") }

    /// A file name for an id (Heka's names may hold anything but `/`).
    static func fileName(_ id: String) -> String {
        String(id.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
    }

    /// Writes what changed since the last flush; returns the problems.
    func flush() -> [String] {
        let (changed, terminations) = state.withLock { s -> ([Output], [Termination]?) in
            defer {
                s.dirty = []
                s.terminationsDirty = false
            }
            return (s.dirty.compactMap { s.outputs[$0] }, s.terminationsDirty ? s.terminations : nil)
        }
        guard !changed.isEmpty || terminations != nil else { return [] }
        var problems: [String] = []
        for o in changed {
            let meta = Self.entry(o).text
            let base = Path.join(dataDirectory, Self.fileName(o.id))
            do {
                try CheckpointWriter.write(o.payload, to: base, sync: false)
                try CheckpointWriter.write(Array(meta.utf8), to: base + ".meta", sync: false)
            } catch {
                problems.append("\(o.id): \(error)")
            }
        }
        if let terminations {
            let text = JSONValue.array(terminations.map(Self.entry)).text
            do { try CheckpointWriter.write(Array(text.utf8), to: Path.join(directory, "terminations.json"), sync: false) } catch {
                problems.append("terminations: \(error)")
            }
        }
        return problems
    }

    /// Reads what a previous run wrote.
    private func load() {
        let names = FileSystem.contentsOfDirectory(dataDirectory) ?? []
        var loaded: [String: Output] = [:]
        for name in names where name.hasSuffix(".meta") {
            let base = Path.join(dataDirectory, String(name.dropLast(5)))
            guard let meta = FileSystem.contents(base + ".meta"), let payload = FileSystem.contents(base),
                  case .object(let kv)? = try? JSONParser.parse(meta) else { continue }
            func str(_ k: String) -> String? { if case .string(let s)? = kv.first(where: { $0.0 == k })?.1 { s } else { nil } }
            guard let id = str("id"), let plugin = str("plugin"), let n = str("name"), let t = str("type") else { continue }
            var updated: Int64 = 0
            if case .integer(let i)? = kv.first(where: { $0.0 == "updated_ns" })?.1 { updated = i }
            loaded[id] = Output(id: id, plugin: plugin, name: n, type: t, updatedNanos: updated, payload: payload)
        }
        var terminations: [Termination] = []
        if let bytes = FileSystem.contents(Path.join(directory, "terminations.json")), case .array(let items)? = try? JSONParser.parse(bytes) {
            for case .object(let kv) in items {
                if case .string(let p)? = kv.first(where: { $0.0 == "plugin" })?.1, case .string(let r)? = kv.first(where: { $0.0 == "reason" })?.1,
                   case .integer(let t)? = kv.first(where: { $0.0 == "time_ns" })?.1 {
                    terminations.append(Termination(plugin: p, reason: r, nanos: t))
                }
            }
        }
        state.withLock {
            $0.outputs = loaded
            $0.terminations = terminations
        }
    }
}

/// The pipeline's dashboard, once a DashboardOutput made it (the admin server asks here).
final class DashboardHolder: Sendable {
    private let store = Mutex<DashboardStore?>(nil)
    /// The live events of `/api/stream` (health even without a DashboardOutput).
    let hub = EventHub()
    /// Where a DashboardOutput without an admin server asks to be served.
    let address = Mutex<String?>(nil)

    var current: DashboardStore? { store.withLock { $0 } }

    /// The store in `directory`, made by the first caller.
    func store(directory: String, staticDirectory: String, maxOutputs: Int) -> DashboardStore {
        store.withLock { s in
            if let s, s.directory == directory { return s }
            let made = DashboardStore(directory: directory, staticDirectory: staticDirectory, maxOutputs: maxOutputs, hub: hub)
            s = made
            return made
        }
    }
}
