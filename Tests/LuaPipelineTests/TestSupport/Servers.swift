#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

struct ServerError: Error, CustomStringConvertible {
    let description: String
}

/// A server binary the tests start on 127.0.0.1 (installed by scripts/install-deps): its
/// output goes to `log` in the test's directory; `start` waits, bounded, until `port`
/// accepts connections; `stop` (SIGTERM) and `kill9` reap it, and so does deinit, so no
/// test leaves one behind.
final class ServerProcess {
    let executable: String
    let arguments: [String]
    let port: Int
    let log: String
    private(set) var process: Process?

    init(_ executable: String, _ arguments: [String], port: Int, log: String) {
        self.executable = executable
        self.arguments = arguments
        self.port = port
        self.log = log
    }

    deinit { kill9() }

    func start(timeout: Duration = .seconds(60)) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ServerError(description: "\(executable) is not installed: run scripts/install-deps")
        }
        FileManager.default.createFile(atPath: log, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        out.seekToEndOfFile()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = out
        p.standardError = out
        try p.run()
        process = p
        let up = eventually("\(executable) listens on \(port)", timeout: timeout) { () -> Bool? in
            if let fd = try? Socket.connect("127.0.0.1:\(port)") {
                close(fd)
                return true
            }
            return p.isRunning ? nil : false
        }
        guard up == true else {
            kill9()
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw ServerError(description: "\(executable) did not start: \(text.suffix(2000))")
        }
    }

    func stop() {
        guard let p = process else { return }
        terminateAndWait(p)
        process = nil
    }

    func kill9() {
        guard let p = process else { return }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }
}

/// nats-server with JetStream, alone or as one node of a cluster.
final class NatsServer {
    let port: Int
    let clusterPort: Int?
    let server: ServerProcess

    var url: String { "nats://127.0.0.1:\(port)" }

    /// `cluster`: this node's route port and every node's route ports (a 3-node cluster).
    init(dir: URL, name: String = "n1", port: Int? = nil, cluster: (port: Int, routes: [Int])? = nil) throws {
        self.port = try port ?? freeTcpPort()
        self.clusterPort = cluster?.port
        let store = dir.appendingPathComponent("nats-\(name)").path
        var args = ["-js", "-a", "127.0.0.1", "-p", String(self.port), "-sd", store, "-n", name]
        if let cluster {
            args += ["--cluster_name", "luapiped", "--cluster", "nats://127.0.0.1:\(cluster.port)",
                     "--routes", cluster.routes.filter { $0 != cluster.port }.map { "nats://127.0.0.1:\($0)" }.joined(separator: ",")]
        }
        server = ServerProcess("/usr/sbin/nats-server", args, port: self.port, log: dir.appendingPathComponent("nats-\(name).log").path)
    }

    func start() throws { try server.start() }
    func stop() { server.stop() }
    func kill9() { server.kill9() }

    /// Three nodes with replicas possible: started together (each waits for its routes).
    static func cluster(dir: URL) throws -> [NatsServer] {
        let routes = try (0..<3).map { _ in try freeTcpPort() }
        let nodes = try (0..<3).map { i in try NatsServer(dir: dir, name: "n\(i + 1)", cluster: (routes[i], routes)) }
        for n in nodes { try n.start() }
        return nodes
    }
}

/// Runs Tests/drivers/nats_tool.py (nats-py) with `arguments`; returns what it printed.
@discardableResult
func natsTool(_ arguments: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", repositoryRoot.appendingPathComponent("Tests/drivers/nats_tool.py").path] + arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let collected = PipeCollector(out)
    let status = waitForExit(p, "nats_tool.py \(arguments.first ?? "") finished", timeout: .seconds(60))
    let text = collected.finish()
    guard status == 0 else { throw ServerError(description: "nats_tool.py \(arguments.joined(separator: " ")) failed: \(text)") }
    return text
}
