import Foundation
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
        case .rejected: log.error(e.plugin, "new version rejected: \(e.detail)")
        case .terminated: break  // logged by the runner, emitted as heka.sandbox-terminated
        default: log.info(e.plugin, "\(e.action.rawValue): \(e.detail)")
        }
        let hostname = registry.withLock { _ in
            var s = statuses[e.plugin] ?? PluginStatus()
            switch e.action {
            case .added: s = PluginStatus(state: .running, lastError: nil, replacements: s.replacements)
            case .replaced:
                s.state = .running
                s.lastError = nil
                s.replacements += 1
            case .removed: s.state = .stopped
            case .rejected: s.lastError = e.detail
            case .restarted: s.state = .running
            case .terminated:
                s.state = e.restarting ? .restarting : .terminated
                s.lastError = e.detail
            }
            statuses[e.plugin] = s
            return current.global.hostname
        }
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
            log.error("sandbox_dir", "reload failed: \(error); the running plugins stay")
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
            log.error("config", "reload failed, the running config stays: \(error)")
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
            log.error("sandbox_dir", e.description)
            if let s = e.section { registry.withLock { _ in statuses[s, default: PluginStatus()].lastError = e.description } }
        }
        let (ins, fs, outs) = registry.withLock { _ in (inputs, filters, outputs) }
        func wanted(_ name: String, _ category: PluginCategory) -> PluginConfig? {
            new.plugin(named: name).flatMap { $0.type.category == category ? $0 : nil }
        }
        /// Why a running plugin needs a new version (nil: it does not), from its fingerprint
        /// then and now (computed once: it reads the script).
        func change(from old: String, to now: String, _ modules: Set<String>, _ p: PluginConfig) -> String? {
            if old != now { return p.dropIn ? "script or settings changed" : "section or script changed" }
            if modules.isDisjoint(with: changedModules) { return nil }
            return "module \(modules.intersection(changedModules).sorted().joined(separator: ", ")) changed"
        }
        func failed(_ name: String, _ notes: BuildNotes, adding: Bool) {
            let detail = notes.errors.map(\.reason).joined(separator: "; ")
            record(ReloadEvent(plugin: name, action: .rejected, detail: adding ? "not started: \(detail)" : "new version not loaded: \(detail)"))
        }

        // Filters: removals first (their state is saved before a same-named one starts).
        var removing: [SandboxFilterRunner] = []
        for f in fs where wanted(f.config.name, .filter) == nil && !broken.contains(f.config.name) {
            registry.withLock { _ in
                filters.removeAll { $0.runner === f.runner }
                savedOnRemoval.insert(f.config.name)
            }
            if f.runner.done {
                record(ReloadEvent(plugin: f.config.name, action: .removed, detail: "removed (it had stopped)"))
            } else {
                f.runner.remove()
                removing.append(f.runner)
            }
        }
        let deadline = Date().addingTimeInterval(drainTimeout)
        while removing.contains(where: { !$0.done }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        for f in fs where !removing.contains(where: { $0 === f.runner }) {
            guard let p = wanted(f.config.name, .filter) else { continue }
            if f.runner.done {
                // It gave up (retries exhausted): a new version starts afresh.
                registry.withLock { _ in filters.removeAll { $0.runner === f.runner } }
                addFilter(p, in: new, restore: true, failed: failed)
                continue
            }
            let fp = Self.fingerprint(p, in: new)
            guard let reason = change(from: f.fingerprint, to: fp, f.modules, p) else { continue }
            var notes = BuildNotes()
            registry.withLock { _ in
                if let i = filters.firstIndex(where: { $0.runner === f.runner }) {
                    filters[i].fingerprint = fp  // a broken version is not tried again until the file changes
                    filters[i].config = p
                }
            }
            guard let replacement = makeFilterReplacement(p, in: new, counters: f.counters, notes: &notes, reason: reason) else {
                failed(p.name, notes, adding: false)
                continue
            }
            registry.withLock { _ in
                if let i = filters.firstIndex(where: { $0.runner === f.runner }) { filters[i].modules = notes.modules }
            }
            f.runner.replace(with: replacement)
        }
        for p in new.plugins(.filter) where !fs.contains(where: { $0.config.name == p.name }) {
            addFilter(p, in: new, restore: registry.withLock { _ in savedOnRemoval.contains(p.name) }, failed: failed)
        }

        // Outputs: a new version takes over the old one's cursor.
        for o in outs {
            guard let p = wanted(o.config.name, .output) else {
                if broken.contains(o.config.name) { continue }
                retire(o)
                router.removeReader(o.output.reader)
                registry.withLock { _ in outputs.removeAll { $0.output === o.output } }
                record(ReloadEvent(plugin: o.config.name, action: .removed, detail: "stopped"))
                continue
            }
            let fp = Self.fingerprint(p, in: new)
            guard let reason = change(from: o.fingerprint, to: fp, o.modules, p) else { continue }
            var notes = BuildNotes()
            guard let made = makeOutput(p, in: new, counters: o.counters, notes: &notes, reader: o.output.reader) else {
                failed(p.name, notes, adding: false)
                continue
            }
            retire(o)
            o.output.reader.rewindToAcknowledged()
            o.output.reader.setMatcher(p.options.readerOptions?.messageMatcher.predicate)
            let running = RunningOutput(config: p, fingerprint: fp, output: made, counters: o.counters, modules: notes.modules)
            registry.withLock { _ in
                if let i = outputs.firstIndex(where: { $0.output === o.output }) { outputs[i] = running }
            }
            startOutput(running)
            record(ReloadEvent(plugin: p.name, action: .replaced, detail: reason))
        }
        for p in new.plugins(.output) where !outs.contains(where: { $0.config.name == p.name }) {
            var notes = BuildNotes()
            let c = PluginCounters(name: p.name, category: p.type.category)
            guard let made = makeOutput(p, in: new, counters: c, notes: &notes) else {
                failed(p.name, notes, adding: true)
                continue
            }
            let running = RunningOutput(config: p, fingerprint: Self.fingerprint(p, in: new), output: made, counters: c, modules: notes.modules)
            registry.withLock { _ in outputs.append(running) }
            startOutput(running)
            record(ReloadEvent(plugin: p.name, action: .added, detail: "started"))
        }

        // Inputs: a changed SandboxDecoder is swapped in place; otherwise the old version
        // stops (what it read is delivered) and the new one starts.
        for i in ins {
            guard let p = wanted(i.config.name, .input) else {
                if broken.contains(i.config.name) { continue }
                stopInput(i)
                registry.withLock { _ in inputs.removeAll { $0.input === i.input } }
                record(ReloadEvent(plugin: i.config.name, action: .removed, detail: "stopped"))
                continue
            }
            let fps = Self.inputFingerprints(p, in: new)
            guard let reason = change(from: i.fingerprint, to: fps.own, i.modules, p) else {
                guard fps.decoder != i.decoderFingerprint, let dec = i.decoder, let dp = Self.sandboxDecoder(of: p, in: new) else { continue }
                let dname = dp.name
                registry.withLock { _ in
                    if let k = inputs.firstIndex(where: { $0.input === i.input }) { inputs[k].decoderFingerprint = fps.decoder }
                }
                var notes = BuildNotes()
                guard let (sb, recipe) = makeDecoderSandbox(dp, in: new, counters: i.counters, notes: &notes) else {
                    failed(dname, notes, adding: false)
                    continue
                }
                let input = i.config.name
                dec.replace(with: sb, rebuild: { try? recipe.make() }, outcome: { [unowned self] error in
                    if let error {
                        record(ReloadEvent(plugin: dname, action: .rejected, detail: "new version (in \(input)): \(error); the running version goes on"))
                    } else {
                        record(ReloadEvent(plugin: dname, action: .replaced, detail: "new version took over in \(input)"))
                    }
                })
                continue
            }
            var notes = BuildNotes()
            guard let made = makeInput(p, in: new, counters: i.counters, notes: &notes) else {
                failed(p.name, notes, adding: false)
                continue
            }
            stopInput(i)
            let running = RunningInput(config: p, fingerprint: fps.own, input: made, counters: i.counters, modules: notes.modules,
                                       decoder: notes.decoder, decoderFingerprint: fps.decoder)
            registry.withLock { _ in
                if let k = inputs.firstIndex(where: { $0.input === i.input }) { inputs[k] = running }
            }
            startInput(running)
            record(ReloadEvent(plugin: p.name, action: .replaced, detail: reason))
        }
        for p in new.plugins(.input) where !ins.contains(where: { $0.config.name == p.name }) {
            var notes = BuildNotes()
            let c = PluginCounters(name: p.name, category: p.type.category)
            guard let made = makeInput(p, in: new, counters: c, notes: &notes) else {
                failed(p.name, notes, adding: true)
                continue
            }
            let fps = Self.inputFingerprints(p, in: new)
            let running = RunningInput(config: p, fingerprint: fps.own, input: made, counters: c, modules: notes.modules,
                                       decoder: notes.decoder, decoderFingerprint: fps.decoder)
            registry.withLock { _ in inputs.append(running) }
            startInput(running)
            record(ReloadEvent(plugin: p.name, action: .added, detail: "started"))
        }
        registry.withLock { _ in current = new }
        watcher?.setDirectory(new.global.sandboxDir)
    }

    private func addFilter(_ p: PluginConfig, in new: PipelineConfig, restore: Bool, failed: (String, BuildNotes, Bool) -> Void) {
        var notes = BuildNotes()
        let c = PluginCounters(name: p.name, category: p.type.category)
        guard let r = makeFilter(p, in: new, counters: c, notes: &notes, restore: restore) else {
            failed(p.name, notes, true)
            return
        }
        registry.withLock { _ in
            filters.append(RunningFilter(config: p, fingerprint: Self.fingerprint(p, in: new), runner: r, counters: c, modules: notes.modules))
            savedOnRemoval.remove(p.name)
        }
        pool.add(r)
        record(ReloadEvent(plugin: p.name, action: .added, detail: restore ? "started with its saved state" : "started"))
    }

    /// Stops an output at a batch boundary; one that cannot finish in time gives up its
    /// unwritten messages (its successor or nobody takes them).
    private func retire(_ o: RunningOutput) {
        o.output.retiring.store(true, ordering: .relaxed)
        let deadline = Date().addingTimeInterval(drainTimeout)
        if !o.finished.wait(until: deadline) {
            o.output.abandon.store(true, ordering: .relaxed)
            o.finished.wait()
        }
    }

    /// Stops an input; a LogstreamerInput saves its journal once what it read is acknowledged.
    private func stopInput(_ i: RunningInput) {
        i.input.stop()
        i.finished.wait()
        guard let l = i.input as? LogstreamerInput else { return }
        let head = router.headSeq
        let deadline = Date().addingTimeInterval(drainTimeout)
        while router.acknowledgedBelow < head && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        l.finalJournal()
    }
}
