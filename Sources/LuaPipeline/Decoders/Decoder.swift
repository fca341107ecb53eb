import Synchronization
/// Turns one record into messages.
public protocol RecordDecoder: AnyObject {
    /// Decodes `record` (valid during the call only); `emit` gets each message.
    /// - Returns: `nil` on success, else why the record was rejected.
    func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String?
    /// Decodes a message another decoder made (MultiDecoder's `"all"` chain, as Heka
    /// hands each sub-decoder the previous one's pack). By default its Payload is the record.
    func decode(message: MessageView, _ emit: (MessageView) -> Void) -> String?
}

extension RecordDecoder {
    public func decode(message: MessageView, _ emit: (MessageView) -> Void) -> String? {
        let payload = message.range(of: .payload).map { UnsafeRawBufferPointer(rebasing: message.bytes[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        return decode(payload, emit)
    }
}

/// No decoder configured: the record becomes the Payload of a message whose Type and
/// Logger are the input's name.
public final class PayloadRecordDecoder: RecordDecoder {
    let type: String
    let hostname: String
    var uuids = UUIDSource.random.makeGenerator()

    static let pid = Int32(getpid())

    public init(inputName: String, hostname: String) {
        self.type = inputName
        self.hostname = hostname
    }

    public func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        guard UTF8Check.isValid(record) else { return "invalid UTF-8 in Payload" }
        emit(MessageView.make(uuids: &uuids, timestamp: Sandbox.now(), type: type, payload: record, logger: type, hostname: hostname, pid: Self.pid))
        return nil
    }
}

/// Records are Heka protobuf messages (Heka's ProtobufDecoder).
public final class ProtobufDecoder: RecordDecoder {
    public init() {}

    public func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        do {
            emit(try MessageView(copying: record))
            return nil
        } catch {
            return "\(error)"
        }
    }
}

/// A Lua decoder: each record is the Payload of a message handed to `process_message`;
/// what the script injects (or, when it injects nothing and returns 0, the possibly
/// rewritten message) comes out, as in Heka. What a failing call injected is dropped.
///
/// A record that makes the script raise an error or break a limit terminates that
/// sandbox: the record is counted as a failure and a fresh sandbox is loaded from the
/// script for the next record, so one bad line cannot stop an input.
///
/// Hot reload: ``replace(with:rebuild:outcome:)`` hands over a new version, which decodes
/// the next record on trial: if it raises an error, it is rejected and the running version
/// decodes that record instead.
public final class SandboxDecoder: RecordDecoder {
    /// The running version; its thread is checked on every record.
    private var sandbox: Sandbox {
        didSet {
            pinned = PinnedSandbox(sandbox)
            if sandbox.hostname != headers.hostname || sandbox.pid != headers.pid { headers = Self.headers(inputName, sandbox) }
        }
    }
    private var pinned: PinnedSandbox
    let inputName: String
    var rebuild: () -> Sandbox?
    private let pending = Mutex<DecoderReplacement?>(nil)
    /// Whether `pending` holds a version: set and cleared under its lock, read without it
    /// on every record (the lock is taken only when a version waits).
    private let replacementWaiting = Atomic<Bool>(false)
    var uuids = UUIDSource.random.makeGenerator()
    /// What the current call injected: the common single message without an array.
    private var produced: MessageView?
    private var producedMore: [MessageView] = []
    /// Sandboxes replaced after a termination.
    public private(set) var restarts = 0
    /// With `decoder_workers`, the other instances: a new version this one accepted is
    /// handed to them, untried, for their next record.
    var followers: [SandboxDecoder] = []
    /// Heka's decoder setting `tz`: the zone of the wall-clock times the script produced.
    var timeZone: TimeZoneShift?

    /// Whether a new version waits for the next record.
    var hasReplacement: Bool { replacementWaiting.load(ordering: .acquiring) }
    /// While the other instances decode the same batch, a new version waits (it is tried
    /// before a batch, so that every instance changes at the same record).
    var holdingReplacement = false
    /// The headers of a record's message: the input's name as Type and Logger, the
    /// running version's Hostname and Pid.
    private var headers: RecordHeaders

    public init(sandbox: Sandbox, inputName: String, rebuild: @escaping () -> Sandbox? = { nil }) {
        self.sandbox = sandbox
        self.pinned = PinnedSandbox(sandbox)
        self.inputName = inputName
        self.rebuild = rebuild
        headers = Self.headers(inputName, sandbox)
        attach()
    }

    private static func headers(_ inputName: String, _ sandbox: Sandbox) -> RecordHeaders {
        RecordHeaders(type: inputName, logger: inputName, hostname: sandbox.hostname, pid: sandbox.pid)
    }

    private func attach() {
        let sb = sandbox
        // Called by sb alone, from a call this decoder makes: neither can be gone, and an
        // injection costs no reference counting (an unowned(unsafe) capture would still be
        // retained around the call; an unmanaged one is not).
        let target = Unmanaged.passUnretained(sb)
        sb.onInject = { [unowned(unsafe) self] injection in
            if let v = target._withUnsafeGuaranteedRef({ $0.view(of: injection) }) {
                switch produced {
                case .none: produced = consume v
                case .some: producedMore.append(consume v)
                }
            }
            return .accept
        }
    }

    /// Hands over a new version (from any thread); `outcome` is called on the input's
    /// thread with nil once it took over, or the error that made it rejected.
    /// `forFollowers`: one sandbox of the same version per follower, handed to them when
    /// this instance accepted it.
    func replace(with sandbox: Sandbox, forFollowers: [Sandbox] = [], rebuild: @escaping () -> Sandbox?,
                 outcome: @escaping (String?) -> Void) {
        offer(DecoderReplacement(sandbox: sandbox, rebuild: rebuild, outcome: outcome, followers: forFollowers))
    }

    private func offer(_ r: DecoderReplacement) {
        pending.withLock {
            $0 = r
            replacementWaiting.store(true, ordering: .releasing)
        }
    }

    public func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        guard UTF8Check.isValid(record) else { return "invalid UTF-8 in Payload" }
        Unmanaged.passUnretained(headers)._withUnsafeGuaranteedRef { $0.next(uuids: &uuids, timestamp: Sandbox.now()) }
        return decode(.record(record), emit)
    }

    /// A message an earlier decoder of a MultiDecoder chain made.
    public func decode(message input: MessageView, _ emit: (MessageView) -> Void) -> String? {
        decode(.message(input), emit)
    }

    /// What `process_message` gets: a record (its message is built only if needed) or a
    /// message.
    private enum Input {
        case record(UnsafeRawBufferPointer)
        case message(MessageView)
    }

    private func decode(_ input: Input, _ emit: (MessageView) -> Void) -> String? {
        forgetProduced()
        let waiting = !replacementWaiting.load(ordering: .acquiring) ? nil : pending.withLock { p -> DecoderReplacement? in
            guard let r = p, !(holdingReplacement && r.trial) else { return nil }
            p = nil
            replacementWaiting.store(false, ordering: .relaxed)
            return r
        }
        if let r = waiting, !r.trial {
            sandbox = r.sandbox
            rebuild = r.rebuild
            attach()
        } else if let r = waiting {
            let old = sandbox
            sandbox = r.sandbox
            attach()
            switch run(input) {
            case .terminated(let e):
                sandbox = old
                attach()
                forgetProduced()
                r.outcome("process_message: \(e.message)")
            case .ok(let status, let message):
                rebuild = r.rebuild
                for (f, fresh) in zip(followers, r.followers) {
                    f.offer(DecoderReplacement(sandbox: fresh, rebuild: r.rebuild, outcome: { _ in }, trial: false))
                }
                r.outcome(nil)
                if status < 0 { return message ?? "process_message() failed with status \(status)" }
                deliver(emit)
                return nil
            }
        }
        switch run(input) {
        case .terminated(let e):
            if let fresh = rebuild() {
                sandbox = fresh
                attach()
                restarts += 1
                return "terminated (restarted): \(e.message)"
            }
            return "terminated: \(e.message)"
        case .ok(let status, let message):
            if status < 0 { return message ?? "process_message() failed with status \(status)" }
            deliver(emit)
            return nil
        }
    }

    private func forgetProduced() {
        produced = nil
        if !producedMore.isEmpty { producedMore.removeAll(keepingCapacity: true) }
    }

    /// What the call injected, else the current message (as `write_message` left it);
    /// with `tz`, each injected Timestamp read again as wall-clock time in that zone (a
    /// message passed on is not: Heka's host left it too).
    private func deliver(_ emit: (MessageView) -> Void) {
        guard let first = produced.take() else {  // moved out: no count taken and given back
            if let m = sandbox.currentMessage { emit(m) }
            return
        }
        guard let timeZone else {
            emit(first)
            for v in producedMore { emit(v) }
            return
        }
        emit(timeZone.shifting(first))
        for v in producedMore { emit(timeZone.shifting(v)) }
    }
}

extension SandboxDecoder {
    /// One call of the running version, on the thread that owns it; a call from another
    /// thread is refused (no Lua runs) and reported as a termination of that record.
    private func run(_ input: Input) -> ProcessResult {
        // +0 references: this decoder holds both for the call (neither is replaced during
        // it), so the call takes and gives back no count.
        let headers = Unmanaged.passUnretained(self.headers)
        return Unmanaged.passUnretained(pinned)._withUnsafeGuaranteedRef { pinned -> ProcessResult in
            do throws(WrongThread) {
                let result = try pinned.enter { sb in
                    switch input {
                    case .record(let bytes): headers._withUnsafeGuaranteedRef { sb.processMessage(record: bytes, headers: $0) }
                    case .message(let m): sb.processMessage(m)
                    }
                }
                switch result {
                case .success(let r): return r
                case .failure(let e): return .terminated(e)
                }
            } catch {
                return .terminated(SandboxError(.terminated, "\(error)"))
            }
        }
    }
}

/// A decoder's new version waiting for its first record.
final class DecoderReplacement: @unchecked Sendable {  // immutable; handed once from the reloader to the input thread through a Mutex
    let sandbox: Sandbox
    let rebuild: () -> Sandbox?
    let outcome: (String?) -> Void
    /// false: taken over without a trial (another instance tried it).
    let trial: Bool
    /// Sandboxes of the same version for the other instances (`decoder_workers`).
    let followers: [Sandbox]

    init(sandbox: Sandbox, rebuild: @escaping () -> Sandbox?, outcome: @escaping (String?) -> Void, trial: Bool = true,
         followers: [Sandbox] = []) {
        self.sandbox = sandbox
        self.rebuild = rebuild
        self.outcome = outcome
        self.trial = trial
        self.followers = followers
    }
}

#if canImport(Glibc)
import Glibc
#endif
