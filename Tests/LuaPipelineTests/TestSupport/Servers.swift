#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import LuaPipeline

struct ServerError: Error, CustomStringConvertible {
    let description: String
}

/// A child process started with posix_spawn, its signal mask cleared (the test threads
/// block SIGTERM, which a child would inherit), its output appended to a file, reaped with
/// waitpid by its pid (Foundation's Process can miss the exit of a child started while
/// the pipeline's threads run).
final class Spawned {
    let pid: pid_t
    private(set) var status: Int32?

    init(_ executable: String, _ arguments: [String], output: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw ServerError(description: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    var isRunning: Bool {
        guard status == nil else { return false }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid { status = st }
        return status == nil
    }

    /// Waits up to `seconds` for it to exit; then SIGKILL. Returns its exit code (or 128 +
    /// the signal).
    @discardableResult
    func wait(_ seconds: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { usleep(10_000) }
        if isRunning {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            status = st
        }
        let st = status ?? 0
        return st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
    }

    func signal(_ sig: Int32) { if isRunning { kill(pid, sig) } }
}

/// Runs a tool to its end (bounded: killed after `timeout` s); its exit code and output.
func runTool(_ executable: String, _ arguments: [String], timeout: Double = 60) -> (status: Int32, output: String) {
    let out = temporaryDirectory().appendingPathComponent("tool.out").path
    guard let p = try? Spawned(executable, arguments, output: out) else { return (-1, "") }
    let status = p.wait(timeout)
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent)
    return (status, text)
}

/// A server binary the tests start on 127.0.0.1 (installed by scripts/install-deps): its
/// output goes to `log` in the test's directory; `start` waits, bounded, until the server
/// itself (or a child of it) accepts connections on `port`; `stop` (SIGTERM, then SIGKILL
/// after 15 s) and `kill9` reap it, and so does deinit, so no test leaves one behind.
final class ServerProcess {
    let executable: String
    let arguments: [String]
    let port: Int
    let log: String
    private(set) var process: Spawned?

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
        let p = try Spawned(executable, arguments, output: log)
        process = p
        // Ready when the listener on the port is this server's: an answer alone could come
        // from another process that took the port first.
        let up = eventually("\(executable) listens on \(port)", timeout: timeout) { () -> Bool? in
            if let fd = try? Socket.connect("127.0.0.1:\(port)") {
                close(fd)
                if listens(pid: p.pid, port: port) { return true }
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
        p.signal(SIGTERM)
        p.wait(15)
        process = nil
    }

    func kill9() {
        guard let p = process else { return }
        p.signal(SIGKILL)
        p.wait(15)
        process = nil
    }
}

/// Whether process `pid`, or one of its descendants, holds the socket listening on TCP
/// `port` (/proc/net/tcp and tcp6, then the processes' descriptors).
func listens(pid: pid_t, port: Int) -> Bool {
    var inodes: Set<String> = []
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // local address "ADDR:PORT" in hex, state 0A is LISTEN, the inode tenth
            guard f.count > 9, f[3] == "0A", let colon = f[1].lastIndex(of: ":"),
                  Int(f[1][f[1].index(after: colon)...], radix: 16) == port else { continue }
            inodes.insert(String(f[9]))
        }
    }
    guard !inodes.isEmpty else { return false }
    var family: Set<pid_t> = [pid]
    let all = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
    var grew = true
    while grew {  // descendants: a server may fork its workers
        grew = false
        for q in all where !family.contains(q) {
            // "pid (comm) state ppid ...": the parent is the second field after the name's ")"
            guard let stat = try? String(contentsOfFile: "/proc/\(q)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let rest = stat[stat.index(after: close)...].split(separator: " ")
            if rest.count > 1, let parent = pid_t(rest[1]), family.contains(parent) {
                family.insert(q)
                grew = true
            }
        }
    }
    for q in family {
        let dir = "/proc/\(q)/fd"
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(fd)"),
               target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast())) {
                return true
            }
        }
    }
    return false
}

/// nats-server with JetStream, alone or as one node of a cluster.
final class NatsServer {
    let port: Int
    let clusterPort: Int?
    let server: ServerProcess

    var url: String { "nats://127.0.0.1:\(port)" }

    /// `cluster`: this node's route port and every node's route ports (a 3-node cluster).
    init(dir: URL, name: String = "n1", port: Int? = nil, cluster: (port: Int, routes: [Int])? = nil, extra: [String] = []) throws {
        self.port = try port ?? freeTcpPort()
        self.clusterPort = cluster?.port
        let store = dir.appendingPathComponent("nats-\(name)").path
        var args = ["-js", "-a", "127.0.0.1", "-p", String(self.port), "-sd", store, "-n", name] + extra
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

/// The requests Tests/drivers/http_sink.py recorded in `dir` (received.jsonl), each as
/// its JSON object (path, auth, type, x, body).
func sinkRequests(in dir: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: dir + "/received.jsonl", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// Runs Tests/drivers/nats_tool.py (nats-py) with `arguments`; returns what it printed.
@discardableResult
func natsTool(_ arguments: [String]) throws -> String {
    let r = runTool("/usr/bin/env", ["python3", repositoryRoot.appendingPathComponent("Tests/drivers/nats_tool.py").path] + arguments)
    guard r.status == 0 else { throw ServerError(description: "nats_tool.py \(arguments.joined(separator: " ")) failed: \(r.output)") }
    return r.output
}

/// The store servers of the topology tests, from the templates in Fixtures/stores.
enum Stores {
    static func template(_ name: String, _ values: [String: String]) throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/stores/\(name)", withExtension: nil) else {
            throw ServerError(description: "no fixture stores/\(name)")
        }
        var text = try String(contentsOf: url, encoding: .utf8)
        for (k, v) in values { text = text.replacingOccurrences(of: "{{\(k)}}", with: v) }
        return text
    }

    /// ClickHouse 18.16 on a free HTTP port (its native port free too).
    static func clickHouse(dir: URL) throws -> ServerProcess {
        let d = dir.appendingPathComponent("clickhouse")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let http = try freeTcpPort(), tcp = try freeTcpPort()
        try template("clickhouse-config.xml", ["DIR": d.path, "HTTP_PORT": String(http), "TCP_PORT": String(tcp)])
            .write(toFile: d.appendingPathComponent("config.xml").path, atomically: true, encoding: .utf8)
        try template("clickhouse-users.xml", [:]).write(toFile: d.appendingPathComponent("users.xml").path, atomically: true, encoding: .utf8)
        let s = ServerProcess("/usr/sbin/clickhouse-server", ["--config-file=\(d.path)/config.xml"], port: http, log: d.appendingPathComponent("stdout.log").path)
        try s.start()
        return s
    }

    /// VictoriaMetrics with exact-duplicate samples counted once.
    static func victoriaMetrics(dir: URL) throws -> ServerProcess {
        let d = dir.appendingPathComponent("victoria")
        let port = try freeTcpPort()
        let s = ServerProcess("/usr/bin/victoria-metrics", ["-storageDataPath=\(d.path)", "-httpListenAddr=127.0.0.1:\(port)",
                                                            "-dedup.minScrapeInterval=1ms", "-retentionPeriod=100y", "-loggerLevel=WARN"],
                              port: port, log: dir.appendingPathComponent("victoria.log").path)
        try s.start()
        return s
    }

    /// carbon-cache writing whisper files under DIR/carbon/storage/whisper.
    static func carbon(dir: URL) throws -> ServerProcess {
        let d = dir.appendingPathComponent("carbon")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let line = try freeTcpPort(), pickle = try freeTcpPort(), query = try freeTcpPort()
        try template("carbon.conf", ["DIR": d.path, "LINE_PORT": String(line), "PICKLE_PORT": String(pickle), "QUERY_PORT": String(query)])
            .write(toFile: d.appendingPathComponent("carbon.conf").path, atomically: true, encoding: .utf8)
        try template("storage-schemas.conf", [:]).write(toFile: d.appendingPathComponent("storage-schemas.conf").path, atomically: true, encoding: .utf8)
        let s = ServerProcess("/usr/bin/carbon-cache", ["--config=\(d.path)/carbon.conf", "--nodaemon", "start"], port: line,
                              log: d.appendingPathComponent("stdout.log").path)
        try s.start()
        return s
    }

    /// An HTTP request with curl; the answer's status and body (status 0: no answer).
    static func curl(_ url: String, body: String? = nil) -> (status: Int, body: String) {
        let r = runTool("/usr/bin/curl", ["-s", "-m", "30", "-w", "\n%{http_code}", url] + (body.map { ["--data-binary", $0] } ?? []))
        let all = r.output
        guard let nl = all.lastIndex(of: "\n") else { return (0, all) }
        return (Int(all[all.index(after: nl)...]) ?? 0, String(all[..<nl]))
    }

    /// GET on 127.0.0.1:`port`; the body ("" unless 200).
    static func get(_ port: Int, _ path: String) -> String {
        let r = curl("http://127.0.0.1:\(port)\(path)")
        return r.status == 200 ? r.body : ""
    }

    /// A ClickHouse query over HTTP; the answer's status and body.
    static func query(_ port: Int, _ sql: String) -> (status: Int, body: String) {
        curl("http://127.0.0.1:\(port)/", body: sql)
    }

    /// A ClickHouse count (nil when the query failed).
    static func count(_ port: Int, _ sql: String) -> Int? {
        let r = query(port, sql)
        return r.status == 200 ? Int(r.body.trimmingCharacters(in: .whitespacesAndNewlines)) : nil
    }

    /// A whisper file's values that are not None (whisper-fetch).
    static func whisperValues(_ file: String) -> [Double] {
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        let r = runTool("/usr/bin/whisper-fetch", ["--from=0", "--drop=nulls", file])
        return r.output.split(separator: "\n").compactMap { $0.split(separator: "\t").last.flatMap { Double($0) } }
    }
}
