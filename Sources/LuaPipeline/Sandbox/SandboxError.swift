/// Why a sandbox did not load or stopped running.
///
/// Messages follow lua_sandbox's form, `entry() script:line: reason`, for example
/// `process_message() filters/count.lua:12: instruction_limit exceeded`.
public struct SandboxError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The script did not compile, or its top level raised an error.
        case load
        /// A limit tripped or a call failed fatally; the sandbox runs no more Lua.
        case terminated
        /// Preserved state could not be restored.
        case restore
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
