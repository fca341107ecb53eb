import Foundation
import Testing

/// The `luapiped` binary itself: exit codes and streams as users and their CI see them.
@Suite struct CommandLineTests {
    /// The built `luapiped`, beside the test bundle.
    static let binary: URL = {
        let testBundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBundle.deletingLastPathComponent()
        if dir.lastPathComponent == "MacOS" || dir.lastPathComponent == "Contents" { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("luapiped")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func luapiped(_ args: [String], stdin: String = "") throws -> Result {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = errPipe
        try p.run()
        let out = PipeCollector(outPipe), err = PipeCollector(errPipe)
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try inPipe.fileHandleForWriting.close()
        let status = waitForExit(p, "luapiped \(args.joined(separator: " ")) exited")
        return Result(status: status, stdout: out.finish(), stderr: err.finish())
    }

    func script(_ text: String) -> String {
        let url = temporaryDirectory().appendingPathComponent("s.lua")
        FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8))
        return url.path
    }

    @Test func anInstalledBinaryFindsItsBundledScriptsOrSaysWhereItLooked() throws {
        let dir = temporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("prefix/bin"), withIntermediateDirectories: true)
        let installed = dir.appendingPathComponent("prefix/bin/luapiped")
        try fm.copyItem(at: Self.binary, to: installed)
        fm.createFile(atPath: dir.appendingPathComponent("c.toml").path, contents: Data("""
            [StdinInput]
            decoder = "nginx"
            [nginx]
            type = "SandboxDecoder"
            filename = "decoders/nginx_access.lua"
            [LogOutput]
            message_matcher = "TRUE"
            """.utf8))
        func check() throws -> (Int32, String) {
            let p = Process()
            p.executableURL = installed
            p.arguments = ["check", "-c", "c.toml"]
            p.currentDirectoryURL = dir
            var env = ProcessInfo.processInfo.environment
            env["LUAPIPED_LUA_DIR"] = nil
            p.environment = env
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = PipeCollector(err)
            let status = waitForExit(p)
            return (status, text.finish())
        }
        // Nothing bundled beside it: the error names every place looked at and the settings.
        let (status, text) = try check()
        #expect(status == 1)
        #expect(text.contains("prefix/share/luapiped/lua") && text.contains("set share_dir in [luapiped] or LUAPIPED_LUA_DIR"), "\(text)")
        // Installed under a prefix: found from the executable's own path.
        try fm.createDirectory(at: dir.appendingPathComponent("prefix/share/luapiped"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: dir.appendingPathComponent("prefix/share/luapiped/lua"), withDestinationURL: repositoryRoot.appendingPathComponent("lua"))
        #expect(try check().0 == 0)
    }

    @Test func exitCodes() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the luapiped product first")
        let ok = try luapiped(["test", script("function process_message() inject_payload('txt', '', read_message('Payload')) return 0 end"), "--format", "lines"], stdin: "a\nb\n")
        #expect(ok.status == 0)
        #expect(ok.stdout.split(separator: "\n").count == 2)
        let broken = try luapiped(["test", script("this is not lua")], stdin: "{}\n")
        #expect(broken.status == 1)
        #expect(broken.stderr.hasPrefix("error: s.lua:1:"))
        let killed = try luapiped(["test", script("function process_message() local t = {} while true do t[#t+1] = {} end end")], stdin: "{}\n")
        #expect(killed.status == 2)
        #expect(killed.stderr.contains("terminated: process_message() memory_limit exceeded"))
        let usage = try luapiped(["test", "--no-such-flag"])
        #expect(usage.status == 64)
        let badMatcher = try luapiped(["test", script("function process_message() return 0 end"), "--matcher", "Type =="], stdin: "")
        #expect(badMatcher.status == 64)
        #expect(badMatcher.stderr.contains("message_matcher: syntax error"))
    }

    @Test func statsAndVersion() throws {
        let r = try luapiped(["test", script("function process_message() return 0 end"), "--stats", "--output", "none"], stdin: "{}\nnot json\n")
        #expect(r.status == 0)
        #expect(r.stderr.contains("line 2: rejected:"))
        #expect(r.stderr.split(separator: "\n").last?.hasPrefix("{\"processed\":1,\"failures\":0,\"injected\":0,\"rejected\":1,") == true)
        let v = try luapiped(["version"])
        #expect(v.status == 0 && v.stdout.hasPrefix("luapiped "))
    }

    @Test func sandboxDirFlagWinsOverTheConfig() throws {
        let dir = temporaryDirectory()
        let cfg = dir.appendingPathComponent("luapiped.toml").path
        FileManager.default.createFile(atPath: cfg, contents: Data("[luapiped]\nsandbox_dir = \"lua.d\"\n\n[StdinInput]\n".utf8))
        let other = dir.appendingPathComponent("elsewhere/filters")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: other.appendingPathComponent("broken.lua").path, contents: Data("function process_message(".utf8))
        let plain = try luapiped(["check", "-c", cfg])
        #expect(plain.status == 0)
        let flagged = try luapiped(["check", "-c", cfg, "--sandbox-dir", dir.appendingPathComponent("elsewhere").path])
        #expect(flagged.status == 1)
        #expect(flagged.stderr.contains("broken.lua"))
    }
}
