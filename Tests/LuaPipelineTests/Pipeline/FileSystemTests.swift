import Foundation
import Testing
@testable import LuaPipeline

/// The C-library file and process helpers start-up uses instead of FileManager, URL and
/// ProcessInfo, checked against what those gave.
@Suite struct FileSystemTests {
    let dir = temporaryDirectory()

    @Test func directoriesAreMadeListedAndRemovedWhole() throws {
        let deep = dir.appendingPathComponent("a/b/c").path
        try FileSystem.createDirectories(deep)
        try FileSystem.createDirectories(deep)  // already there: no error
        #expect(Path.isDirectory(deep))
        _ = FileManager.default.createFile(atPath: deep + "/x.toml", contents: Data("k = 1".utf8))
        _ = FileManager.default.createFile(atPath: deep + "/.hidden", contents: nil)
        #expect(Set(FileSystem.contentsOfDirectory(deep) ?? []) == Set(try FileManager.default.contentsOfDirectory(atPath: deep)))
        #expect(FileSystem.contents(deep + "/x.toml") == Array("k = 1".utf8))
        #expect(FileSystem.text(deep + "/x.toml") == "k = 1")
        #expect(FileSystem.exists(deep + "/x.toml") && !FileSystem.exists(deep + "/y.toml"))
        #expect(FileSystem.contentsOfDirectory(deep + "/missing") == nil)
        #expect(FileSystem.remove(dir.appendingPathComponent("a").path))
        #expect(!FileSystem.exists(dir.appendingPathComponent("a").path))
        #expect(FileSystem.remove(dir.appendingPathComponent("a").path))  // already gone
    }

    @Test func aDirectoryThatCannotBeMadeSaysWhich() throws {
        let file = dir.appendingPathComponent("plain").path
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        #expect(throws: FileSystemError.self) { try FileSystem.createDirectories(file + "/sub") }
        do {
            try FileSystem.createDirectories(file + "/sub")
        } catch {
            #expect(error.description.hasSuffix("/plain: a file of that name is in the way"))
        }
    }

    @Test func textThatIsNotUTF8IsNil() {
        let path = dir.appendingPathComponent("bad.txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data([0x61, 0xFF, 0x62]))
        #expect(FileSystem.contents(path) == [0x61, 0xFF, 0x62])
        #expect(FileSystem.text(path) == nil)
    }

    @Test func linksAndTheWorkingDirectoryAreNamed() throws {
        let link = dir.appendingPathComponent("link").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/some/where")
        #expect(FileSystem.symbolicLinkDestination(link) == "/some/where")
        #expect(FileSystem.symbolicLinkDestination(dir.path) == nil)
        #expect(FileSystem.currentDirectory() == FileManager.default.currentDirectoryPath)
    }

    @Test func theEnvironmentAndProcessorCountMatchProcessInfo() {
        let env = ProcessFacts.environment()
        #expect(env["PATH"] == ProcessInfo.processInfo.environment["PATH"])
        #expect(env.count == ProcessInfo.processInfo.environment.count)
        #expect(ProcessFacts.activeProcessorCount() >= 1)
    }

    @Test func environmentReferencesAreReplacedByteForByte() {
        let env = ["A": "1", "LONG": "été"]
        #expect(PipelineConfig.substituteEnvironment("x = \"%ENV[A]\"", env) == "x = \"1\"")
        #expect(PipelineConfig.substituteEnvironment("%ENV[A]%ENV[LONG]-%ENV[NONE]!", env) == "1été-!")
        #expect(PipelineConfig.substituteEnvironment("é %ENV[A", env) == "é %ENV[A")
        #expect(PipelineConfig.substituteEnvironment("%ENV[A] then %ENV[", env) == "1 then %ENV[")
        #expect(PipelineConfig.substituteEnvironment("no reference", env) == "no reference")
        #expect("a\nb".literal == "\"a\\nb\"")
    }
}
