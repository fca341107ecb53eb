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
public final class SandboxDecoder: RecordDecoder {
    public let sandbox: Sandbox
    let inputName: String
    var uuids = UUIDSource.random.makeGenerator()
    private var produced: [MessageView] = []

    public init(sandbox: Sandbox, inputName: String) {
        self.sandbox = sandbox
        self.inputName = inputName
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
