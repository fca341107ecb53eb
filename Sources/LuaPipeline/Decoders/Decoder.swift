/// Turns one record into messages.
public protocol RecordDecoder: AnyObject {
    /// Decodes `record` (valid during the call only); `emit` gets each message.
    /// - Returns: `nil` on success, else why the record was rejected.
    func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String?
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
public final class SandboxDecoder: RecordDecoder {
    public private(set) var sandbox: Sandbox
    let inputName: String
    let rebuild: () -> Sandbox?
    var uuids = UUIDSource.random.makeGenerator()
    private var produced: [MessageView] = []
    /// Sandboxes replaced after a termination.
    public private(set) var restarts = 0

    public init(sandbox: Sandbox, inputName: String, rebuild: @escaping () -> Sandbox? = { nil }) {
        self.sandbox = sandbox
        self.inputName = inputName
        self.rebuild = rebuild
        attach()
    }

    private func attach() {
        sandbox.onInject = { [unowned self] injection in
            if let v = injection.copyView() { produced.append(v) }
            return .accept
        }
    }

    public func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        guard UTF8Check.isValid(record) else { return "invalid UTF-8 in Payload" }
        let input = MessageView.make(uuids: &uuids, timestamp: Sandbox.now(), type: inputName, payload: record,
                                     logger: inputName, hostname: sandbox.hostname, pid: sandbox.pid)
        produced.removeAll(keepingCapacity: true)
        switch sandbox.processMessage(input) {
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
            if produced.isEmpty, let m = sandbox.currentMessage { emit(m) }
            for v in produced { emit(v) }
            return nil
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
