import ArgumentParser
import LuaPipeline

/// `luapiped run`: until the pipeline lands, the embedded default is a placeholder
/// pipeline, standard input → LogOutput (each line printed as a message in JSON form).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pipeline (default: the embedded default config).")

    @Option(name: .shortAndLong, help: "Config file or directory (not yet supported: the embedded default runs).")
    var config: String?

    func run() throws {
        if config != nil {
            throw ValidationError("-c is not supported yet: this build runs only the embedded default pipeline")
        }
        try PlaceholderPipeline.run()
    }
}
