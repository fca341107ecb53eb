import FoundationEssentials
import Glibc
import Synchronization

/// The daemon's log lines (stderr by default; tests capture them).
public final class PipelineLog: Sendable {
    private let sink: @Sendable (String) -> Void
    private let verbose: Bool

    public init(verbose: Bool = false, sink: @escaping @Sendable (String) -> Void = PipelineLog.stderr) {
        self.sink = sink
        self.verbose = verbose
    }

    public func info(_ plugin: String, _ text: String) { sink("\(plugin): \(text)") }
    public func error(_ plugin: String, _ text: String) { sink("\(plugin): error: \(text)") }
    public func debug(_ plugin: String, _ text: String) { if verbose { sink("\(plugin): \(text)") } }

    private static let lock = Mutex(())

    public static let stderr: @Sendable (String) -> Void = { line in
        lock.withLock { _ in writeStandardError(line + "\n") }
    }
}
