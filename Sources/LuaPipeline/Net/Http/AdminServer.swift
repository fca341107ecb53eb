import FoundationEssentials
import Glibc

/// The admin HTTP server (`[luapiped] admin_address`): `GET /health` and `GET /metrics`
/// (docs/monitoring.md). Its socket is bound with the inputs' (an address already taken is
/// a start-up error naming it); libmicrohttpd is loaded when the first connection
/// arrives, so a daemon nobody asks pays nothing for it.
final class AdminServer: @unchecked Sendable {  // `server` is touched by run() only; stop() sets a flag
    let address: String
    private weak var pipeline: Pipeline?
    private lazy var socket = BoundSocket { [address] () throws(Socket.Failure) in try Socket.listen(address) }
    private let stopped = DoneFlag()
    private let log: PipelineLog

    init(address: String, pipeline: Pipeline, log: PipelineLog) {
        self.address = address
        self.pipeline = pipeline
        self.log = log
    }

    func open() throws(Socket.Failure) { try socket.open() }

    /// Serves until ``stop()``: waits for the first connection, then starts the server on
    /// the socket (which accepts it).
    func run() {
        let fd: Int32
        do {
            fd = try socket.take()
        } catch {
            log.error("admin", "\(error)")
            return
        }
        while !stopped.isSet && !Socket.readable(fd, ms: 100) {}
        guard !stopped.isSet, let hub = pipeline?.dashboard.hub else {
            close(fd)
            return
        }
        let server: HttpServer
        do {
            // 64 connections served, up to 128 accepted (the others told 503 at once; beyond,
            // libmicrohttpd stops accepting until one closes), a head of about 8 KiB at
            // most, 10 s to send it.
            server = try HttpServer(listenFD: fd, maxBody: 0, served: 64, accepted: 128, timeout: 10, headBytes: 8704, handle: { [weak self] in
                self?.answer($0) ?? HttpServer.Response(status: 503, body: "stopping\n")
            }, log: { [log] in log.error("admin", "HTTP: \($0)") }, failed: { _ in })
        } catch {
            log.error("admin", "cannot serve on \(address): \(error)")
            return
        }
        stopped.wait()
        hub.close()  // the streams end, so their connection threads can
        server.stop()
    }

    func stop() { stopped.set() }

    private func answer(_ r: HttpServer.Request) -> HttpServer.Response {
        guard let pipeline else { return HttpServer.Response(status: 503, body: "stopping\n") }
        guard r.method == "GET" else { return HttpServer.Response(status: 405, body: "GET only\n", headers: [("Allow", "GET")]) }
        switch r.url {
        case "/health":
            let (status, body) = pipeline.health()
            return HttpServer.Response(status: status, body: body.text + "\n", headers: [("Content-Type", "application/json")])
        case "/metrics":
            return HttpServer.Response(status: 200, body: pipeline.prometheusText(), headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
        case "/api/stream":
            let client = pipeline.dashboard.hub.subscribe { [weak pipeline] in pipeline?.health().body.text ?? "{}" }
            return HttpServer.Response(status: 200, stream: client, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        default:
            if let store = pipeline.dashboard.current, let page = Self.dashboard(r.url, store) { return page }
            return HttpServer.Response(status: 404, body: "no such page: \(r.url) (try /health or /metrics)\n")
        }
    }

    /// The dashboard's pages and data (a DashboardOutput runs).
    static func dashboard(_ url: String, _ store: DashboardStore) -> HttpServer.Response? {
        let json = [("Content-Type", "application/json")]
        switch url {
        case "/api/outputs": return HttpServer.Response(status: 200, body: store.listing.text, headers: json)
        case "/api/terminations": return HttpServer.Response(status: 200, body: store.terminationListing.text, headers: json)
        case "/": return file(Path.join(store.staticDirectory, "index.html"))
        default: break
        }
        if url.hasPrefix("/api/outputs/") {
            guard let o = store.output(String(url.dropFirst("/api/outputs/".count))) else { return nil }
            return HttpServer.Response(status: 200, bytes: o.payload, headers: [("Content-Type", "text/plain; charset=utf-8")])
        }
        guard url.hasPrefix("/static/"), !url.split(separator: "/").contains("..") else { return nil }
        let rest = String(url.dropFirst("/static/".count))
        if rest.hasPrefix("dygraphs/") { return file(Path.join(DashboardOutput.dygraphsDirectory, String(rest.dropFirst("dygraphs/".count)))) }
        return file(Path.join(store.staticDirectory, rest))
    }

    static func file(_ path: String) -> HttpServer.Response? {
        guard let bytes = FileSystem.contents(path) else { return nil }
        let type: String
        switch path.split(separator: ".").last ?? "" {
        case "html": type = "text/html; charset=utf-8"
        case "js": type = "text/javascript; charset=utf-8"
        case "css": type = "text/css; charset=utf-8"
        case "json", "map": type = "application/json"
        default: type = "application/octet-stream"
        }
        return HttpServer.Response(status: 200, bytes: bytes, headers: [("Content-Type", type)])
    }
}
