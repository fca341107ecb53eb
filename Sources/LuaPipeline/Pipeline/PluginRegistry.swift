import Synchronization

/// The running plugins and their statuses, behind one lock. The reloader adds and removes
/// plugins; the stop, `-v` and the status read them.
final class PluginRegistry: Sendable {
    private struct State {
        var plugins: [any ManagedPlugin] = []
        var statuses: [String: PluginStatus] = [:]
        /// Plugins removed while running (a filter's state was saved): putting one back
        /// restores it.
        var removed: Set<String> = []
    }
    private let state = Mutex(State())

    /// In the order they were built (inputs' readers after filters' and outputs').
    var plugins: [any ManagedPlugin] { state.withLock { $0.plugins } }

    func plugins(_ category: PluginCategory) -> [any ManagedPlugin] { plugins.filter { $0.category == category } }

    func add(_ m: any ManagedPlugin) {
        state.withLock {
            $0.plugins.append(m)
            $0.removed.remove(m.name)
        }
    }

    /// Takes a plugin out; its name is remembered so that putting it back restores its state.
    func remove(_ m: any ManagedPlugin) {
        state.withLock {
            $0.plugins.removeAll { $0 === m }
            $0.removed.insert(m.name)
        }
    }

    /// Whether a plugin of that name was removed while running (and not put back yet).
    func wasRemoved(_ name: String) -> Bool { state.withLock { $0.removed.contains(name) } }

    var statuses: [String: PluginStatus] { state.withLock { $0.statuses } }

    func setStatus(_ name: String, _ s: PluginStatus) { state.withLock { $0.statuses[name] = s } }

    /// Changes one plugin's status (a fresh one when it has none yet).
    func updateStatus(_ name: String, _ change: (inout PluginStatus) -> Void) {
        state.withLock { change(&$0.statuses[name, default: PluginStatus()]) }
    }
}
