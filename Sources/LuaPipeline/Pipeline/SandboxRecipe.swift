import FoundationEssentials
import Glibc

/// Everything needed to make a fresh sandbox of one plugin version: a value, so a runner
/// restarts its plugin (or a decoder reloads after a termination) without calling back
/// into the pipeline.
struct SandboxRecipe: Sendable {
    let kind: PluginKind
    let name: String
    let script: String
    let limits: SandboxLimits
    let config: [String: ConfigValue]
    let modulePaths: [String]
    let hostname: String

    /// A loaded sandbox.
    /// - Throws: why the script does not load (the reason only).
    func make() throws(OptionProblem) -> Sandbox {
        guard let code = FileSystem.contents(script) else { throw OptionProblem("cannot read \(script)") }
        let sb = Sandbox(kind: kind, name: name, limits: limits, config: config, modulePaths: modulePaths, hostname: hostname)
        do {
            try sb.load(script: code, chunkName: Path.lastComponent(script))
        } catch {
            throw OptionProblem("\(script): \(error.message)")
        }
        return sb
    }
}
