import FoundationEssentials
import Glibc
import Synchronization

/// Hot reload of a running filter, on its worker: a new version's adoption, its trial (its
/// first call with the injections held back) or, for an idle filter, its probation (it
/// takes over at once; the previous version comes back if its first call fails).
extension SandboxFilterRunner {
    /// Takes a pending replacement: the running globals go into it, then it waits for its
    /// first call (or, when the running sandbox is terminated, takes over at once).
    func adoptPending() {
        guard let r = pending.withLock({ p -> FilterReplacement? in defer { p = nil }; return p }) else { return }
        var note = ""
        do {
            if try !r.sandbox.restore(try sandbox.preserve()) { note = "; _PRESERVATION_VERSION changed, so it starts without the old state" }
        } catch {
            reject(r, "handing over the state: \(error.message)")
            return
        }
        if restartAt != nil {
            restartAt = nil
            reader.setSuspended(false)
            attempts = 0
            commit(r, note: note + " (the old version was terminated)")
            return
        }
        if !reader.hasWaiting {
            // Idle: the new version takes over now, with the old one kept until its first
            // message, which the old one makes if the new one fails it.
            let old = FilterReplacement(sandbox: sandbox, settings: settings, matcher: matcher, reason: "")
            commit(r, note: note)
            probation = .fallback(old)
            probationNote = r.reason + note
            return
        }
        trial = r
        trialNote = note
    }

    /// A version that took over without a call yet: until its first message it is on
    /// probation. If that call fails, the previous version (`fallback`) comes back and
    /// makes it; a filter put back (`firstRun`, e.g. its `.off` removed) stops again, its
    /// saved state kept.
    enum Probation {
        case fallback(FilterReplacement)
        case firstRun
    }

    /// Puts the previous version back (its successor failed its first call).
    func restoreVersion(_ old: FilterReplacement) {
        sandbox = old.sandbox
        attach(old.sandbox)
        settings = old.settings
        matcher = old.matcher
        reader.setMatcher(old.matcher)
    }

    /// The first message of a version on probation. Returns true when the message is done,
    /// false when the previous version must make it, nil when the filter stopped.
    func onProbation(_ p: Probation, _ m: RoutedMessage) -> Bool? {
        probation = nil
        switch sandbox.processMessage(m.view) {
        case .ok(let status, let message):
            if status < 0 {
                counters.add(.failures)
                log.debug(name, "process_message() failed with status \(status)" + (message.map { ": " + $0 } ?? ""))
            }
            return true
        case .terminated(let e):
            counters.add(.rejectedVersions)
            switch p {
            case .fallback(let old):
                restoreVersion(old)
                report(ReloadEvent(plugin: name, action: .rejected,
                                   detail: "\(probationNote): the new version failed its first message (process_message: \(e.message)); the previous version is back"))
                return false
            case .firstRun:
                report(ReloadEvent(plugin: name, action: .rejected,
                                   detail: "failed its first message (process_message: \(e.message)); stopped again, its saved state kept"))
                reader.acknowledge(through: m.seq)
                router.removeReader(reader)
                done = true
                return nil
            }
        }
    }

    /// Makes `r` the running version (counted and reported).
    func commit(_ r: FilterReplacement, note: String) {
        sandbox = r.sandbox
        attach(r.sandbox)
        let tickerChanged = settings.tickerInterval != r.settings.tickerInterval
        settings = r.settings
        if tickerChanged { nextTick = nil }
        reader.setMatcher(r.matcher)
        matcher = r.matcher
        trial = nil
        counters.add(.replacements)
        report(ReloadEvent(plugin: name, action: .replaced, detail: r.reason + note))
    }

    func reject(_ r: FilterReplacement, _ why: String) {
        trial = nil
        counters.add(.rejectedVersions)
        report(ReloadEvent(plugin: name, action: .rejected, detail: "new version rejected (\(r.reason)): \(why); the running version goes on"))
    }

    /// Runs the trial version's first call with its injections held back. Returns true
    /// when the call is done (accepted); false when rejected (the old version must make it).
    func onTrial(_ r: FilterReplacement, _ call: (Sandbox) -> String?) -> Bool {
        attach(r.sandbox)
        held = []
        let failure = call(r.sandbox)
        let views = held ?? []
        held = nil
        if let failure {
            attach(sandbox)
            reject(r, failure)
            return false
        }
        commit(r, note: trialNote)
        for v in views {
            switch router.append(v, from: reader, loops: currentLoops + 1) {
            case .appended(let seq):
                counters.add(.injected)
                lastInjected = seq
            case .loopLimit: counters.add(.loopDrops)
            case .closed: break
            }
        }
        return true
    }
}
