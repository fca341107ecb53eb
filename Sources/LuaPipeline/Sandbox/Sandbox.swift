import CLua

/// What a script hands to the host.
///
/// The bytes are valid only while the `onInject` callback runs: a consumer copies what it
/// keeps (the router appends them to its log), so an injection costs no allocation of its
/// own. Messages arrive encoded and already validated.
public enum Injection {
    /// A Heka protobuf message (from `inject_message`, or a filter's `inject_payload`).
    case message(UnsafeRawBufferPointer)
    /// An encoder's output bytes (`inject_payload`), with the payload type and name.
    case payload(type: String, name: String, bytes: UnsafeRawBufferPointer)

    /// A view over a copy of an injected message; `nil` for payloads.
    public func copyView() -> MessageView? {
        guard case .message(let bytes) = self else { return nil }
        // Validated before it was handed over (or encoded by our own encoder).
        return try! MessageView(copyingValid: bytes)
    }
}

extension Sandbox {
    /// A view over a copy of an injected message, made while `onInject` runs. A message the
    /// script injected as a table comes with the layout the C encoder noted as it wrote
    /// it, so its bytes are copied without being scanned again.
    public func view(of injection: Injection) -> MessageView? {
        guard case .message(let bytes) = injection else { return nil }
        guard let c = clp_sandbox_injected_layout(handle)?.pointee else { return injection.copyView() }
        func span(_ s: clp_span) -> (Int, Int) { (s.start, s.len) }
        let layout = MessageView.Layout(uuid: span(c.uuid), type: span(c.type), logger: span(c.logger), payload: span(c.payload),
                                        envVersion: span(c.env_version), hostname: span(c.hostname), timestamp: Int64(c.timestamp),
                                        severity: c.has_severity != 0 ? Int32(c.severity) : nil, pid: c.has_pid != 0 ? Int32(c.pid) : nil)
        return MessageView(copying: bytes, layout: layout, slots: UnsafeBufferPointer(start: c.fields, count: c.field_count))
    }
}

/// The host's answer to an injection.
public enum InjectVerdict: Equatable {
    case accept
    /// Refused: the script sees a Lua error it may catch.
    case reject(String)
    /// Refused and the plugin ends (e.g. it injected more than allowed).
    case fatal(String)
}

/// The outcome of `process_message`.
public enum ProcessResult: Equatable {
    /// The script returned `status` (0 ok, < 0 a counted failure, -2 "no output" for
    /// encoders) and an optional error message.
    case ok(status: Int, message: String?)
    case terminated(SandboxError)
}

/// One Lua 5.4 state running one plugin script, with Heka's API and limits.
///
/// The state is created with luapiped's allocator (memory limit, peak tracked), a coarse
/// instruction count hook and an output limit, in a restricted environment (see
/// docs/lua-api.md). Any limit breach or error terminates this sandbox only: it reports
/// why and runs no more Lua.
///
/// Thread confinement: a sandbox is used by one thread at a time and is not Sendable;
/// the daemon pins each plugin to one worker thread.
public final class Sandbox {
    public let kind: PluginKind
    /// The plugin name: the Logger of what a filter injects.
    public let name: String
    public let limits: SandboxLimits
    let handle: OpaquePointer

    /// The message `read_message` reads; set by the caller of ``processMessage(_:)``. A
    /// record's message (``processMessage(record:headers:)``) is built the first time
    /// something asks for it.
    public internal(set) var currentMessage: MessageView? {
        get {
            if let b = borrowed { return b.takeUnretainedValue() }
            if current == nil, let r = record { current = r.headers.takeUnretainedValue().message(of: r.bytes) }
            return current
        }
        set {
            current = newValue
            record = nil
            borrowed = nil
        }
    }
    var current: MessageView?
    /// The message of a ``processMessage(borrowing:)`` call, not retained: its caller holds
    /// it for the call, and the call clears it before it returns.
    var borrowed: Unmanaged<MessageView>?
    /// The record the current call decodes, while its message is not built (its headers
    /// are held by the caller of ``processMessage(record:headers:)`` for the call).
    var record: (bytes: UnsafeRawBufferPointer, headers: Unmanaged<RecordHeaders>)?
    /// Receives every injection. Default: accept and drop.
    public var onInject: (Injection) -> InjectVerdict = { _ in .accept }
    /// Receives `print` output and Lua warnings (level, line).
    public var onLog: (Int, String) -> Void = { _, _ in }
    /// Nanoseconds since the epoch, for the Timestamp of new messages.
    public var clock: () -> Int64 = { Sandbox.now() }

    var config: [String: ConfigValue] = [:]
    var pinnedConfig: [String: PinnedBytes] = [:]
    let pinnedName: PinnedBytes
    let pinnedHostname: PinnedBytes
    let pinnedPrefix = PinnedBytes("heka.sandbox.")
    public let hostname: String
    public let pid: Int32
    var uuids: UUIDGenerator
    var scratch: PinnedBytes?
    var nextFieldIndex = 0
    /// Injections during the current call.
    public internal(set) var injectionsThisCall = 0
    /// Whether `write_message` changed ``currentMessage`` during the current call.
    public internal(set) var wroteMessage = false

    /// Creates the state and its environment; nothing of the script runs yet.
    ///
    /// - Parameters:
    ///   - modulePaths: directories `require` searches, in order.
    ///   - config: what `read_config` returns.
    public init(
        kind: PluginKind, name: String, limits: SandboxLimits = SandboxLimits(),
        config: [String: ConfigValue] = [:], modulePaths: [String] = [],
        hostname: String = Sandbox.defaultHostname(), pid: Int32 = Int32(getpid()),
        uuids: UUIDSource = .random
    ) {
        self.kind = kind
        self.name = name
        self.limits = limits
        self.hostname = hostname
        self.pid = pid
        self.uuids = uuids.makeGenerator()
        self.pinnedName = PinnedBytes(name)
        self.pinnedHostname = PinnedBytes(hostname)
        var cLimits = clp_limits(
            memory_limit: limits.memory, instruction_limit: limits.instructions, output_limit: limits.output,
            max_process_duration: limits.maxProcessDuration, instruction_step: limits.instructionStep)
        var callbacks = Sandbox.callbacks
        let cKind: clp_kind = switch kind {
        case .decoder: CLP_DECODER
        case .filter: CLP_FILTER
        case .encoder: CLP_ENCODER
        }
        // A placeholder until self is complete; the host pointer is set right after.
        guard let h = clp_sandbox_new(cKind, &cLimits, &callbacks, nil, modulePaths.joined(separator: ";")) else {
            fatalError("luapiped: cannot allocate a Lua state (out of memory)")
        }
        self.handle = h
        clp_sandbox_set_host(h, Unmanaged.passUnretained(self).toOpaque())
        setConfig(config)
    }

    deinit {
        clp_sandbox_free(handle)
    }

    /// Replaces what `read_config` returns.
    public func setConfig(_ values: [String: ConfigValue]) {
        config = values
        pinnedConfig = [:]
        for (k, v) in values {
            switch v {
            case .string(let s): pinnedConfig[k] = PinnedBytes(s)
            case .array, .table: pinnedConfig[k] = PinnedBytes(v.luaChunk)
            default: break
            }
        }
    }

    /// Compiles the script (text only) and runs its top level.
    ///
    /// - Parameter chunkName: how errors name the script, e.g. `filters/count.lua`.
    /// - Throws: ``SandboxError`` of kind `.load` (syntax error, error at load, missing
    ///   `process_message`).
    public func load(script: some Collection<UInt8>, chunkName: String) throws(SandboxError) {
        let bytes = Array(script)
        let rc = bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { clp_sandbox_load(handle, "@" + chunkName, $0.baseAddress, $0.count) }
        }
        if rc != CLP_OK {
            throw SandboxError(.load, errorText ?? "load failed")
        }
    }

    /// The termination reason, if terminated.
    public var errorText: String? {
        clp_sandbox_error(handle).map { String(cString: $0) }
    }

    public var isTerminated: Bool { clp_sandbox_terminated(handle) != 0 }

    /// Whether a decoder's reused Fields table is read straight from Lua's table nodes:
    /// the layout check, made when the first sandbox is created, held for the Lua linked.
    static var readsFieldsInPlace: Bool { clp_fields_in_place() != 0 }

    /// The modules the script has required so far (`re`, `lpeg`, `a.b` …).
    public var loadedModules: Set<String> {
        var buf = [CChar](repeating: 0, count: 8192)
        let n = clp_sandbox_modules(handle, &buf, buf.count)
        let text = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Set(text.split(separator: "\n").map(String.init))
    }

    /// Whether the script defines `timer_event`.
    public var hasTimerEvent: Bool { clp_sandbox_has_function(handle, "timer_event") != 0 }

    /// Ends the sandbox from outside (a watchdog, the host's own checks).
    public func terminate(_ reason: String) {
        clp_sandbox_terminate(handle, reason)
    }

    /// Runs `process_message()` on `message`.
    public func processMessage(_ message: MessageView) -> ProcessResult {
        currentMessage = message
        publishHeaders(message)
        return callProcessMessage()
    }

    /// Runs `process_message()` on `message` without keeping it: for a caller that holds
    /// it for the whole call and reads nothing of the sandbox's about it afterwards (a
    /// filter). ``currentMessage`` is nil after the call. A filter's view was written by
    /// another thread: not retaining it here saves two atomic writes to its reference
    /// count per message.
    func processMessage(borrowing message: MessageView) -> ProcessResult {
        current = nil
        record = nil
        borrowed = Unmanaged.passUnretained(message)
        publishHeaders(message)
        let result = callProcessMessage()
        borrowed = nil
        return result
    }

    func callProcessMessage() -> ProcessResult {
        nextFieldIndex = 0
        injectionsThisCall = 0
        wroteMessage = false
        var status: Int32 = 0
        let rc = clp_sandbox_process(handle, &status)
        if rc != CLP_OK {
            return .terminated(SandboxError(.terminated, errorText ?? "terminated"))
        }
        var len = 0
        let msg = clp_sandbox_message(handle, &len).map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: len), as: UTF8.self)
        }
        return .ok(status: Int(status), message: msg)
    }

    /// Runs `timer_event(ns, shutdown)`; `false` when the script defines none.
    /// - Throws: ``SandboxError`` (`.terminated`) when the call ends the sandbox.
    @discardableResult
    public func timerEvent(ns: Int64, shutdown: Bool) throws(SandboxError) -> Bool {
        currentMessage = nil
        clp_sandbox_set_message(handle, nil)
        injectionsThisCall = 0
        let rc = clp_sandbox_timer(handle, ns, shutdown ? 1 : 0)
        if rc == CLP_MISSING { return false }
        if rc != CLP_OK { throw SandboxError(.terminated, errorText ?? "terminated") }
        return true
    }

    public var usage: SandboxUsage {
        var u = clp_usage()
        clp_sandbox_usage(handle, &u)
        return SandboxUsage(
            memoryCurrent: u.memory_current, memoryPeak: u.memory_peak, instructionsLast: u.instructions_last,
            instructionsPeak: u.instructions_peak, outputPeak: u.output_peak)
    }

    /// preserve_data: the script's globals as Lua source.
    /// - Throws: ``SandboxError`` when serialization fails.
    public func preserve() throws(SandboxError) -> [UInt8] {
        var out: UnsafeMutablePointer<CChar>?
        var len = 0
        guard clp_sandbox_preserve(handle, &out, &len) == CLP_OK else {
            // CLP_PRESERVE_FAILED: the reason comes back in `out`; the sandbox itself goes on.
            let reason = out.map { String(cString: $0) } ?? "preserve_data() failed"
            free(out)
            throw SandboxError(.terminated, reason)
        }
        defer { free(out) }
        guard let out else { return [] }
        return Array(UnsafeRawBufferPointer(start: out, count: len))
    }

    /// Restores globals saved by ``preserve()``; call after ``load(script:chunkName:)``
    /// (restored values overwrite what the top level set, as in Heka).
    /// - Returns: `false` when `_PRESERVATION_VERSION` changed and nothing was restored.
    /// - Throws: ``SandboxError`` (`.restore`) when the data does not load.
    @discardableResult
    public func restore(_ data: [UInt8]) throws(SandboxError) -> Bool {
        var err: UnsafeMutablePointer<CChar>?
        let rc = data.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { clp_sandbox_restore(handle, $0.baseAddress, $0.count, &err) }
        }
        // CLP_TERMINATED: the sandbox was terminated already (err stays NULL).
        if rc == CLP_PRESERVE_FAILED || rc == CLP_TERMINATED {
            let text = err.map { String(cString: $0) } ?? "preserved data did not load"
            free(err)
            throw SandboxError(.restore, "restore: \(text)")
        }
        return rc == CLP_OK
    }

    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public static func defaultHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
