import ArgumentParser
import LuaPipeline

/// `luapiped config-reference`: the generated reference of every config key.
struct ConfigReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference",
        abstract: "Print the reference of every configuration key (the second half of docs/configuration.md).")

    func run() { print(ConfigReference.markdown(), terminator: "") }
}
