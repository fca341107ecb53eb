import FoundationEssentials
import Glibc

/// Something that happened to a plugin while the daemon runs: logged, kept in the
/// plugin's ``PluginStatus`` and emitted as a message of type `luapiped.reload`
/// (terminations are Heka's `heka.sandbox-terminated`).
///
/// The message: Logger `luapiped`, Payload the detail (the error for `rejected`), Fields
/// `plugin` and `action`, Severity 3 for `rejected`, 6 otherwise.
public struct ReloadEvent: Sendable, Equatable {
    public enum Action: String, Sendable {
        /// A new plugin started (a drop-in script appeared, a section was added on SIGHUP).
        case added
        /// A new version took over from the running one.
        case replaced
        /// The plugin stopped cleanly (script deleted, `NAME.off`, section removed).
        case removed
        /// A new version did not load or failed its first call; the old one goes on.
        case rejected
        /// A terminated plugin runs again (retries, or its file changed).
        case restarted
        /// The plugin was terminated (status only: the message is `heka.sandbox-terminated`).
        case terminated
        /// It is not running (waiting for a restart, or stuck in a call) and its lag budget
        /// is full: its oldest messages are dropped for it, so it holds nobody back.
        case dropping
    }

    public let plugin: String
    public let action: Action
    public let detail: String
    /// For `terminated`: a restart is scheduled.
    public var restarting = false

    public init(plugin: String, action: Action, detail: String, restarting: Bool = false) {
        self.plugin = plugin
        self.action = action
        self.detail = detail
        self.restarting = restarting
    }

    public static let messageType = "luapiped.reload"

    func message(hostname: String) -> Message {
        var uuids = UUIDSource.random.makeGenerator()
        return Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: Self.messageType, logger: "luapiped",
                       severity: action == .rejected || action == .dropping ? 3 : 6, payload: detail, hostname: hostname,
                       fields: [Field(name: "plugin", value: .string([plugin])), Field(name: "action", value: .string([action.rawValue]))])
    }
}

/// A plugin's state as the daemon sees it now.
public struct PluginStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case running, restarting, stopped, terminated
    }

    public var state: State
    /// The last reload or run-time error (cleared when a new version takes over).
    public var lastError: String?
    /// Versions that took over while running.
    public var replacements: Int
    /// When `lastError` was set, and when it last terminated (ns since 1970).
    public var lastErrorNanos: Int64?
    public var terminatedNanos: Int64?

    public init(state: State = .running, lastError: String? = nil, replacements: Int = 0) {
        self.state = state
        self.lastError = lastError
        self.replacements = replacements
    }
}
