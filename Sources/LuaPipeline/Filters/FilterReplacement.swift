/// A filter's settings besides its script: replaced together with it on reload.
struct FilterSettings {
    var tickerInterval: Double
    /// Where `preserve_data` keeps the globals between runs (nil: not preserved).
    var preservePath: String?
    /// Where the globals are saved when the filter is removed while running (so putting
    /// it back restores them), whether or not `preserve_data` is set.
    var statePath: String
    var retries: RetryPolicy
    /// A fresh sandbox of this version (restarts after a termination).
    var rebuild: () -> Sandbox?
}

/// A new version of a running filter, compiled and initialised beside it by the reloader
/// and handed to the filter's worker, which swaps it in at a message boundary.
final class FilterReplacement: @unchecked Sendable {  // immutable; handed once from the reloader to the filter's worker through a Mutex
    let sandbox: Sandbox
    let settings: FilterSettings
    let matcher: ReaderMatch?
    /// Why it is replaced ("script changed", "section changed", "module x changed").
    let reason: String

    init(sandbox: Sandbox, settings: FilterSettings, matcher: ReaderMatch?, reason: String) {
        self.sandbox = sandbox
        self.settings = settings
        self.matcher = matcher
        self.reason = reason
    }
}
