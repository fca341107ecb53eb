import FoundationEssentials
import Glibc

/// Turns a message into the bytes an output writes.
public protocol MessageEncoder: AnyObject {
    /// The bytes for `view`, or `nil` when this message produces no output.
    /// - Throws: ``EncodeError`` when the message cannot be encoded (counted, skipped).
    func encode(_ view: MessageView) throws(EncodeError) -> [UInt8]?
    /// Whether outputs frame this encoder's output by default (protobuf).
    var framesByDefault: Bool { get }
}

public struct EncodeError: Error, CustomStringConvertible {
    public let description: String
}

/// The Payload, optionally with a newline and a timestamp prefix (Heka's PayloadEncoder).
public final class PayloadEncoder: MessageEncoder {
    let appendNewlines: Bool
    let prefixTimestamp: Bool
    public var framesByDefault: Bool { false }

    public init(appendNewlines: Bool = true, prefixTimestamp: Bool = false) {
        self.appendNewlines = appendNewlines
        self.prefixTimestamp = prefixTimestamp
    }

    public func encode(_ view: MessageView) throws(EncodeError) -> [UInt8]? {
        var out: [UInt8] = []
        if prefixTimestamp {
            let seconds = Double(view.timestamp) / 1e9
            let date = Date(timeIntervalSince1970: seconds).formatted(Date.ISO8601FormatStyle())
            out += Array("[\(date)] ".utf8)
        }
        if let r = view.range(of: .payload) { out += view.bytes[r] }
        if appendNewlines { out.append(0x0A) }
        return out
    }
}

/// The message's protobuf bytes as they are (Heka's ProtobufEncoder): nothing re-encoded.
public final class ProtobufEncoder: MessageEncoder {
    public var framesByDefault: Bool { true }
    public init() {}
    public func encode(_ view: MessageView) throws(EncodeError) -> [UInt8]? { Array(view.bytes) }
}

/// The JSON form, one message per line (docs/message-json.md).
public final class JsonEncoder: MessageEncoder {
    public var framesByDefault: Bool { false }
    public init() {}
    public func encode(_ view: MessageView) throws(EncodeError) -> [UInt8]? {
        view.decoded().jsonBytes() + [0x0A]
    }
}

/// A Lua encoder: `process_message` reads the message and injects the output
/// (`inject_payload` → bytes as they are, `inject_message` → protobuf); -2 means no output.
public final class SandboxEncoder: MessageEncoder {
    public let sandbox: Sandbox
    private var output: [UInt8]?
    private var producedProtobuf = false
    public var framesByDefault: Bool { false }

    /// Entered only from the thread of the output that uses it (claimed by the first call).
    private let pinned: PinnedSandbox

    public init(sandbox: Sandbox) {
        self.sandbox = sandbox
        pinned = PinnedSandbox(sandbox)
        sandbox.onInject = { [unowned self] injection in
            switch injection {
            case .payload(_, _, let bytes): output = (output ?? []) + Array(bytes)
            case .message(let bytes):
                output = (output ?? []) + StreamFraming.frame(bytes)
                producedProtobuf = true
            }
            return .accept
        }
    }

    public func encode(_ view: MessageView) throws(EncodeError) -> [UInt8]? {
        output = nil
        let result: ProcessResult
        do throws(WrongThread) {
            switch try pinned.enter({ $0.processMessage(view) }) {
            case .success(let r): result = r
            case .failure(let e): result = .terminated(e)
            }
        } catch {
            throw EncodeError(description: "\(error)")
        }
        switch result {
        case .terminated(let e): throw EncodeError(description: "terminated: \(e.message)")
        case .ok(let status, let message):
            if status == -2 { return nil }
            if status < 0 { throw EncodeError(description: message ?? "process_message() failed with status \(status)") }
            return output
        }
    }
}
