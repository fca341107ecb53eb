import CLua
import LuapipedCore

/// The headers a record's message gets before a decoder reads it: the input's Type,
/// Logger, Hostname and Pid, and a Uuid and Timestamp per record. They stay in pinned
/// storage that the C side reads in place, so a record is decoded without its message
/// being built: that happens only when the script asks for more than the headers and
/// the Payload (`raw`, a field, `write_message`) or when the message itself is passed on.
final class RecordHeaders {
    let type: String
    let logger: String?
    let hostname: String?
    let pid: Int32?
    private let pinnedType: PinnedBytes
    private let pinnedLogger: PinnedBytes?
    private let pinnedHostname: PinnedBytes?
    /// The current record's Uuid (16 bytes) and Timestamp, set by ``next(uuids:timestamp:)``.
    private let uuid: UnsafeMutableRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 8)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        return p
    }()
    private(set) var timestamp: Int64 = 0
    /// What C reads for `read_message` and a decoder's header inheritance, but the
    /// per-record Timestamp and Payload (the Uuid's bytes change in place): built once, in
    /// memory of its own, so a record costs one copy made by C and no reference counting.
    /// `raw` is left out: the C side asks the host, which builds the message then.
    let fixed: UnsafeMutablePointer<clp_message_headers> = {
        let p = UnsafeMutablePointer<clp_message_headers>.allocate(capacity: 1)
        p.initialize(to: clp_message_headers())
        return p
    }()

    init(type: String, logger: String? = nil, hostname: String? = nil, pid: Int32? = nil) {
        self.type = type
        self.logger = logger
        self.hostname = hostname
        self.pid = pid
        pinnedType = PinnedBytes(type)
        pinnedLogger = logger.map { PinnedBytes($0) }
        pinnedHostname = hostname.map { PinnedBytes($0) }
        func string(_ p: PinnedBytes?) -> clp_value { p.map { Sandbox.string($0.base, $0.length) } ?? clp_value() }
        fixed.pointee = clp_message_headers(
            uuid: Sandbox.string(UnsafePointer(uuid.assumingMemoryBound(to: CChar.self)), 16), timestamp: clp_value(),
            type: string(pinnedType), logger: string(pinnedLogger), severity: clp_value(),
            payload: clp_value(), env_version: clp_value(),
            pid: pid.map { Sandbox.integer(Int64($0)) } ?? clp_value(),
            hostname: string(pinnedHostname), raw: nil, size: 0, fields: nil, field_count: 0)
    }

    deinit {
        uuid.deallocate()
        fixed.deallocate()
    }

    /// Headers for the next record: a new Uuid, the given Timestamp.
    func next(uuids: inout UUIDGenerator, timestamp: Int64) {
        uuids.write(into: uuid)
        self.timestamp = timestamp
    }

    /// The message of `payload` with these headers.
    func message(of payload: UnsafeRawBufferPointer) -> MessageView {
        MessageView.make(uuid: uuid, timestamp: timestamp, type: type, payload: payload,
                         logger: logger, hostname: hostname, pid: pid)
    }
}

extension Sandbox {
    /// Runs `process_message()` on the message `record` (valid during this call only)
    /// makes with `headers`, without building that message unless something asks for it.
    /// A call that injected nothing and succeeded may pass the message itself on, so it is
    /// built then. Nothing of the record is left where C could read it after the call.
    func processMessage(record bytes: UnsafeRawBufferPointer, headers: RecordHeaders) -> ProcessResult {
        current = nil
        // Not retained: the caller holds `headers` for the whole call, and `record` is
        // cleared before it returns.
        record = (bytes, Unmanaged.passUnretained(headers))
        clp_sandbox_set_record(handle, headers.fixed, headers.timestamp, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                               bytes.count)
        let result = callProcessMessage()
        if injectionsThisCall == 0, case .ok(let status, _) = result, status >= 0 { _ = currentMessage }
        record = nil
        clp_sandbox_set_message(handle, nil)
        return result
    }
}
