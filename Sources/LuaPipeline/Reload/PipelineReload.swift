import FoundationEssentials
import Glibc
import Synchronization

/// Hot reload: bringing the running plugins in line with a new config while messages flow.
///
/// - A new plugin is built and started (a filter reads messages appended from then on).
/// - A changed plugin (its section, its script, a section it refers to, or a module it
///   required) is built beside the running one. Filters swap at a message boundary with
///   their state handed over (``SandboxFilterRunner``); inputs stop and the new version
///   starts (a LogstreamerInput resumes from its journal); an output hands its cursor to the
///   new version, which starts at the first message the old one had not acknowledged.
/// - A removed plugin stops cleanly; a filter's state is saved, so putting it back
///   restores it.
/// - A version that does not build leaves the running one alone; the error is logged,
///   kept in ``Pipeline/status`` and emitted as a `luapiped.reload` message.
/// - A drop-in plugin whose .toml is broken keeps its running version.
extension Pipeline {
    /// Logs an event, keeps it in the plugin's status and emits it as a message
    /// (`from`: the reader of the filter it concerns, so it is not delivered back to it).
    func record(_ e: ReloadEvent, from reader: RouterReader? = nil) {
        switch e.action {
        case .rejected, .dropping: log.error(e.plugin, e.detail)  // each detail says what was refused
        case .terminated: break  // logged by the runner, emitted as heka.sandbox-terminated
        default: log.info(e.plugin, "\(e.action.rawValue): \(e.detail)")
        }
        let now = Sandbox.now()
        registry.updateStatus(e.plugin) { s in
            defer { if s.lastError != nil && [.rejected, .dropping, .terminated].contains(e.action) { s.lastErrorNanos = now } }
            switch e.action {
            case .added:
                let terminated = s.terminatedNanos
                s = PluginStatus(state: .running, lastError: nil, replacements: s.replacements)
                s.terminatedNanos = terminated
            case .replaced:
                s.state = .running
                s.lastError = nil
                s.replacements += 1
            case .removed: s.state = .stopped
            case .rejected, .dropping: s.lastError = e.detail
            case .restarted: s.state = .running
            case .terminated:
                s.state = e.restarting ? .restarting : .terminated
                s.lastError = e.detail
                s.terminatedNanos = now
            }
        }
        let hostname = config.global.hostname
        if e.action != .terminated {
            _ = router.append(MessageView(e.message(hostname: hostname)), from: reader)
        }
    }

    /// Starts the drop-in directory's watcher (unless `sandbox_dir_watch = "off"`); its
    /// first snapshot is taken before this returns.
    func startWatching() {
        let g = config.global
        guard g.sandboxDirWatch != "off" else { return }
        let w = SandboxDirWatcher(directory: g.sandboxDir, mode: g.sandboxDirWatch, pollInterval: g.sandboxDirPollInterval,
                                  debounce: g.sandboxDirDebounce) { [unowned self] modules in
            reloadDropIns(changedModules: modules)
        }
        watcher = w
        w.start()
    }

    /// The drop-in directory changed: the same config texts are parsed again with it.
    public func reloadDropIns(changedModules: Set<String> = []) {
        do {
            reload(to: try config.reparsed(), changedModules: changedModules)
        } catch {
            record(ReloadEvent(plugin: "sandbox_dir", action: .rejected, detail: "reload failed: \(error); the running plugins stay"))
        }
    }

    /// SIGHUP: the config files are read again. A broken config is reported and the
    /// running one stays. Returns whether the new config was applied.
    @discardableResult
    public func reloadConfig() -> Bool {
        let new: PipelineConfig
        do {
            new = try config.reread()
        } catch {
            record(ReloadEvent(plugin: "config", action: .rejected, detail: "reload failed, the running config stays: \(error)"))
            return false
        }
        reload(to: new)
        return true
    }

    /// Brings the running plugins in line with `new`. `changedModules`: modules whose
    /// files changed (the plugins that required them are rebuilt).
    public func reload(to new: PipelineConfig, changedModules: Set<String> = []) {
        reloading.lock()
        defer { reloading.unlock() }
        guard !stopped.withLock({ $0 }) else { return }
        guard started.load(ordering: .acquiring) else {
            log.error("config", "reload requested before the pipeline started: ignored")
            return
        }
        apply(new, changedModules)
    }

    private func apply(_ new: PipelineConfig, _ changedModules: Set<String>) {
        // Drop-ins whose .toml does not parse: reported, their running version stays.
        let broken = Set(new.dropInErrors.compactMap(\.section))
        for e in new.dropInErrors {
            record(ReloadEvent(plugin: e.section ?? "sandbox_dir", action: .rejected,
                               detail: "\(e.description); \(e.section.map { _ in "the running version stays" } ?? "not loaded")"))
        }
        let builder = self.builder
        // Readers before inputs, as at start-up: an input's first messages reach them.
        let order: [PluginCategory] = [.filter, .output, .input]
        let running = registry.plugins.sorted { order.firstIndex(of: $0.category)! < order.firstIndex(of: $1.category)! }
        func wanted(_ m: any ManagedPlugin) -> PluginConfig? {
            new.plugin(named: m.name).flatMap { $0.type.category == m.category ? $0 : nil }
        }

        // Removals first, all at once: a filter's state is saved before a same-named
        // plugin starts.
        let gone = running.filter { wanted($0) == nil && !broken.contains($0.name) }
        for m in gone {
            registry.remove(m)
            m.remove(host: self)
        }
        let deadline = Date().addingTimeInterval(drainTimeout)
        for m in gone {
            if let e = m.drained(until: deadline, host: self) { record(e) }
        }

        // Changes: each plugin builds its new version beside the running one and hands over.
        for m in running where !gone.contains(where: { $0 === m }) {
            guard let p = wanted(m) else { continue }  // its drop-in .toml is broken: it stays
            let fp = m.fingerprint(of: p, in: new)
            guard let reason = m.change(to: p, fingerprint: fp, changedModules: changedModules) else { continue }
            if let e = m.replace(with: p, in: new, fingerprint: fp, reason: reason, using: builder, host: self) { record(e) }
        }

        // Additions.
        for c in order {
            for p in new.plugins(c) where !running.contains(where: { $0.name == p.name && $0.category == c }) {
                let restore = registry.wasRemoved(p.name)
                var notes = PluginBuilder.Notes()
                guard let m = builder.managed(p, in: new, restore: restore, notes: &notes) else {
                    record(.rejected(p.name, notes, adding: true))
                    continue
                }
                do {
                    try m.open()
                } catch {
                    record(ReloadEvent(plugin: p.name, action: .rejected, detail: "not started: \(error.reason)"))
                    continue
                }
                registry.add(m)
                m.start(on: self)
                record(ReloadEvent(plugin: p.name, action: .added, detail: restore && c == .filter ? "started with its saved state" : "started"))
            }
        }
        self.running.withLock { $0 = new }
        watcher?.setDirectory(new.global.sandboxDir)
    }
}
