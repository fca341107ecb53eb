import FoundationEssentials
import Glibc

/// Runs one plugin script on recorded input and prints what it injects:
/// `luapiped test`, for script authors and their CI.
///
/// Decoders get each input record through `process_message`; what they inject (or, when
/// they inject nothing and return 0, the message itself, as Heka passes it on) is
/// printed. Filters get the messages their matcher accepts, `timer_event` every N
/// messages and once at the end with `shutdown = true`. Encoders' output is written as
/// a FileOutput would write it. Uuids and default Timestamps are deterministic.
public final class ScriptTestRunner {
    public let options: ScriptTestOptions
    public let out: ByteSink
    public let err: ByteSink
    public private(set) var stats = ScriptTestStats()
    private var sandbox: Sandbox!
    private var kind: PluginKind = .filter
    private var inputUuids = UUIDSource.deterministic.makeGenerator(stream: 1)  // apart from the script's
    private var lastTimestamp: Int64 = 0
    /// The headers of a line's message.
    private let recordHeaders = RecordHeaders(type: "stdin")
    private var terminated = false
    /// A decoder's output of the current call, kept until its status is known: Heka drops
    /// what a failing decode injected.
    private var pending: [[UInt8]] = []
    private var pendingCount = 0
    /// A decoder's `tz` setting, applied as the daemon applies it.
    private var timeZone: TimeZoneShift?

    public init(options: ScriptTestOptions, out: ByteSink, err: ByteSink) {
        self.options = options
        self.out = out
        self.err = err
    }

    private func report(_ line: String) {
        err.write(line + "\n")
    }

    /// Runs to the end of input and returns the outcome for the exit code.
    /// - Throws: ``ScriptTestError`` for problems outside the script (unreadable
    ///   script, input or state file).
    public func run() throws(ScriptTestError) -> ScriptTestOutcome {
        defer { out.flush(); err.flush() }
        let outcome = try execute()
        if options.stats {
            if let sandbox { stats.usage = sandbox.usage }
            report(stats.json)
        }
        return outcome
    }

    private func execute() throws(ScriptTestError) -> ScriptTestOutcome {
        guard let script = FileManager.default.contents(atPath: options.scriptPath) else {
            throw ScriptTestError("cannot read script \(options.scriptPath)")
        }
        kind = options.kind ?? ModuleSearchPath.kind(forScript: options.scriptPath) ?? .filter
        if kind == .decoder, case .string(let tz)? = options.config["tz"], tz != "UTC" {
            do throws(TimeZoneError) { timeZone = try TimeZoneShift(named: tz) } catch { throw ScriptTestError("tz: \(error.reason)") }
        }
        var limits = options.limits
        if options.stats && limits.instructionStep == 0 { limits.instructionStep = 1 }  // exact counts
        let name = URL(fileURLWithPath: options.scriptPath).deletingPathExtension().lastPathComponent
        let sb = Sandbox(
            kind: kind, name: name, limits: limits, config: options.config,
            modulePaths: ModuleSearchPath.forScript(at: options.scriptPath, extra: options.modulePaths),
            hostname: "localhost", pid: 0, uuids: .deterministic)
        sandbox = sb
        sb.clock = { [unowned self] in self.lastTimestamp }
        sb.onLog = { [unowned self] _, line in self.report("print: " + line) }
        // unowned(unsafe): the runner owns the sandbox, so no callback outlives it, and a
        // checked reference would cost two atomic operations a line.
        sb.onInject = { [unowned(unsafe) self] injection in self.emit(injection, shift: true) }
        do {
            try sb.load(script: script, chunkName: Self.displayName(options.scriptPath))
        } catch {
            report("error: \(error.message)")
            return .loadFailed
        }
        if let state = options.statePath, let data = FileManager.default.contents(atPath: state) {
            do {
                if try !sb.restore(Array(data)) { report("state: _PRESERVATION_VERSION changed, \(state) ignored") }
            } catch {
                throw ScriptTestError("\(state): \(error.message)")
            }
        }
        let reader = try ChunkReader(path: options.inputPath)
        defer { reader.close() }
        switch options.format ?? (kind == .decoder ? .lines : .json) {
        case .lines: readLines(reader, json: false)
        case .json: readLines(reader, json: true)
        case .framed: readFramed(reader)
        }
        if !terminated && kind == .filter {
            do {
                try sb.timerEvent(ns: lastTimestamp, shutdown: true)
            } catch {
                return terminate(error)
            }
        }
        if terminated { return .terminated }
        if let state = options.statePath {
            do {
                let data = try sb.preserve()
                guard FileManager.default.createFile(atPath: state, contents: Data(data)) else {
                    throw ScriptTestError("cannot write state file \(state)")
                }
            } catch let e as SandboxError {
                return terminate(e)
            } catch {
                throw error as! ScriptTestError
            }
        }
        return .completed
    }

    /// `filters/x.lua` for a script in a plugin folder, else the file name.
    static func displayName(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().lastPathComponent
        if ["filters", "decoders", "encoders"].contains(dir) { return dir + "/" + url.lastPathComponent }
        return url.lastPathComponent
    }

    private func terminate(_ error: SandboxError) -> ScriptTestOutcome {
        terminated = true
        report("terminated: \(error.message)")
        return .terminated
    }

    /// `shift`: an injection, whose Timestamp a decoder's `tz` applies to.
    private func emit(_ injection: Injection, shift: Bool = false) -> InjectVerdict {
        if kind == .decoder {
            pendingCount += 1
            if options.output == .json, case .message(let bytes) = injection {
                if shift, let timeZone, let view = try? MessageView(copying: bytes) {
                    let shifted = timeZone.shifting(view)
                    withExtendedLifetime(shifted) { pending.append(Array(shifted.bytes)) }  // bytes belong to the view
                } else {
                    pending.append(Array(bytes))
                }
            }
            return .accept
        }
        write(injection)
        return .accept
    }

    private func write(_ injection: Injection) {
        stats.injected += 1
        guard options.output == .json else { return }
        switch injection {
        case .message(let bytes):
            if kind == .encoder {
                out.write(StreamFraming.frame(bytes))
            } else {
                out.write(injection.copyView()!.decoded().jsonBytes())
                out.write(CollectionOfOne(0x0A))
            }
        case .payload(_, _, let bytes):
            out.write(bytes)
        }
    }

    /// Writes (status >= 0) or drops a decoder's output of the call just made.
    private func settleDecoderOutput(keep: Bool) {
        defer {
            if !pending.isEmpty { pending.removeAll(keepingCapacity: true) }
            pendingCount = 0
        }
        guard keep else { return }
        if options.output == .json {
            for bytes in pending { bytes.withUnsafeBytes { write(.message($0)) } }
        } else {
            stats.injected += pendingCount
        }
    }

    /// Feeds one message; false once the sandbox is terminated. `record` names it in a
    /// report ("line 12"), made only when there is one.
    private func process(_ view: MessageView, record: @autoclosure () -> String) -> Bool {
        if kind != .decoder, let matcher = options.matcher, !matcher(view) { return true }
        lastTimestamp = view.timestamp
        return settle(sandbox.processMessage(view), record: record())
    }

    /// Feeds a line to a decoder as the Payload of a message with `recordHeaders`.
    private func process(line: UnsafeRawBufferPointer, record: @autoclosure () -> String) -> Bool {
        recordHeaders.next(uuids: &inputUuids, timestamp: 0)
        lastTimestamp = 0
        return settle(sandbox.processMessage(record: line, headers: recordHeaders), record: record())
    }

    private func settle(_ result: ProcessResult, record: @autoclosure () -> String) -> Bool {
        stats.processed += 1
        if kind == .decoder {
            if case .ok(let status, _) = result, status >= 0 {
                if sandbox.injectionsThisCall == 0, let m = sandbox.currentMessage {
                    _ = emit(.message(m.bytes))  // Heka passes the (possibly rewritten) message on, unshifted
                }
                settleDecoderOutput(keep: true)
            } else {
                settleDecoderOutput(keep: false)
            }
        }
        switch result {
        case .terminated(let e):
            _ = terminate(e)
            return false
        case .ok(let status, let message):
            if status < 0 && !(kind == .encoder && status == -2) {
                stats.failures += 1
                report("\(record()): process_message() failed with status \(status)" + (message.map { ": " + $0 } ?? ""))
            }
        }
        if kind == .filter && options.timerEvery > 0 && stats.processed % options.timerEvery == 0 {
            do {
                try sandbox.timerEvent(ns: lastTimestamp, shutdown: false)
            } catch {
                _ = terminate(error)
                return false
            }
        }
        return true
    }

    private func readLines(_ reader: ChunkReader, json: Bool) {
        // The daemon's splitter, without its size bound: a script author's test reads any line.
        var splitter = TokenSplitter(maxRecordSize: Int.max)
        var lineNo = 0
        var stopped = false
        let handle: (UnsafeRawBufferPointer) -> Bool = { [self] line in  // local: a strong capture, no cycle
            lineNo += 1
            var bytes = line
            if let last = bytes.last, last == 0x0D { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
            if json {
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return true }
                do {
                    var (m, hasUuid, _) = try Message.fromJSON(bytes)
                    if !hasUuid { m.uuid = inputUuids.next() }
                    return process(MessageView(m), record: "line \(lineNo)")
                } catch {
                    stats.rejected += 1
                    report("line \(lineNo): rejected: \(error)")
                    return true
                }
            }
            guard UTF8Check.isValid(bytes) else {
                stats.rejected += 1
                report("line \(lineNo): rejected: invalid UTF-8 in Payload")
                return true
            }
            if kind == .decoder { return process(line: bytes, record: "line \(lineNo)") }
            recordHeaders.next(uuids: &inputUuids, timestamp: 0)
            return process(recordHeaders.message(of: bytes), record: "line \(lineNo)")
        }
        let deliver: (UnsafeRawBufferPointer) -> Void = { line in
            if !stopped && !handle(line) { stopped = true }  // the sandbox was terminated
        }
        while !stopped {
            let chunk = reader.read()
            if chunk.isEmpty { break }
            splitter.feed(chunk, deliver)
        }
        if !stopped { splitter.finish(deliver) }
    }

    private func readFramed(_ reader: ChunkReader) {
        var framing = FramedStreamReader(maxMessageSize: options.maxMessageSize)
        var recordNo = 0
        func handle(_ records: [FramedRecord]) -> Bool {
            for r in records {
                switch r {
                case .error(let e):
                    stats.rejected += 1
                    report("record \(recordNo + 1): rejected: \(e)")
                case .message(let bytes):
                    recordNo += 1
                    do {
                        let view = try MessageView(encoded: bytes)
                        if let p = view.range(of: .payload), !UTF8Check.isValid(UnsafeRawBufferPointer(rebasing: view.bytes[p])) {
                            stats.rejected += 1
                            report("record \(recordNo): rejected: invalid UTF-8 in Payload")
                            continue
                        }
                        if !process(view, record: "record \(recordNo)") { return false }
                    } catch {
                        stats.rejected += 1
                        report("record \(recordNo): rejected: \(error)")
                    }
                }
            }
            return true
        }
        while true {
            let chunk = reader.read()
            if chunk.isEmpty { break }
            if !handle(framing.feed(chunk)) { return }
        }
        _ = handle(framing.finish())
    }
}
