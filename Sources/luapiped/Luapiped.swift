import ArgumentParser
import LuaPipeline

/// The `luapiped` command: flags are parsed here, everything else is the library's.
@main
struct Luapiped: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luapiped",
        abstract: "One data pipeline for logs, metrics and events, with Lua 5.4 sandboxed plugins.",
        version: LuaPipelineVersion.string,
        subcommands: [Run.self, Check.self, TestScript.self, Cat.self, ConfigReferenceCommand.self, Version.self],
        defaultSubcommand: Run.self
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")
    func run() {
        print("luapiped \(LuaPipelineVersion.string) (\(LuaPipelineVersion.luaVersion))")
    }
}
