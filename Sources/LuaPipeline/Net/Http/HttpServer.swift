import CLua
import Glibc

/// An HTTP/1.1 server on Debian's libmicrohttpd (`clp_httpd.c`), loaded on first use:
/// libmicrohttpd parses requests (chunked bodies included), luapiped only answers them.
/// Requests are served on libmicrohttpd's threads, one per connection, so the handler
/// must be thread-safe; a body is gathered whole up to `maxBody` bytes (past it the
/// handler sees `tooBig` and answers without it).
final class HttpServer: @unchecked Sendable {  // `server` is set once by start and cleared by stop (one caller)
    /// One request, valid during the handler's call.
    struct Request {
        let raw: UnsafeMutablePointer<clp_httpd_request>
        var method: String { String(cString: raw.pointee.method) }
        var url: String { String(cString: raw.pointee.url) }
        var version: String { String(cString: raw.pointee.version) }
        var tooBig: Bool { raw.pointee.too_big != 0 }
        /// The body (empty when none or too big).
        var body: UnsafeRawBufferPointer {
            guard let b = raw.pointee.body else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(start: b, count: raw.pointee.body_len)
        }

        func header(_ name: String) -> String? { clp_httpd_header(raw, name).map { String(cString: $0) } }

        /// The query's arguments in order.
        var arguments: [(String, String)] {
            var out: [(String, String)] = []
            withUnsafeMutablePointer(to: &out) { p in
                clp_httpd_arguments(raw, { ctx, k, v in
                    ctx!.assumingMemoryBound(to: [(String, String)].self).pointee.append((String(cString: k!), String(cString: v!)))
                }, p)
            }
            return out
        }

        /// Basic authentication's user name and password, if the request has them.
        var basicAuth: (user: String, password: String)? {
            var pass: UnsafeMutablePointer<CChar>?
            guard let user = clp_httpd_basic_auth(raw, &pass) else { return nil }
            defer {
                clp_httpd_free(user)
                clp_httpd_free(pass)
            }
            return (String(cString: user), pass.map { String(cString: $0) } ?? "")
        }

        /// The client's address.
        var peer: String {
            var buf = [CChar](repeating: 0, count: 64)
            clp_httpd_peer(raw, &buf, buf.count)
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    struct Response {
        var status: Int
        var bytes: [UInt8]
        var headers: [(String, String)]
        /// A body of unknown length, read as it comes (Server-Sent Events).
        var stream: (any HttpStream)?

        init(status: Int, body: String = "", headers: [(String, String)] = []) {
            self.init(status: status, bytes: Array(body.utf8), headers: headers)
        }

        init(status: Int, bytes: [UInt8], headers: [(String, String)] = []) {
            self.status = status
            self.bytes = bytes
            self.headers = headers
        }

        init(status: Int, stream: any HttpStream, headers: [(String, String)]) {
            self.init(status: status, bytes: [], headers: headers)
            self.stream = stream
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// What the C callbacks reach through their context pointer.
    private final class Callbacks {
        let handle: (Request) -> Response
        let log: (String) -> Void
        let failed: (Int32) -> Void
        init(handle: @escaping (Request) -> Response, log: @escaping (String) -> Void, failed: @escaping (Int32) -> Void) {
            self.handle = handle
            self.log = log
            self.failed = failed
        }
    }

    private var server: OpaquePointer?
    private let callbacks: Unmanaged<Callbacks>

    /// Serves on `listenFD` (which the server owns from now on, and closes when stopped).
    /// - Parameters:
    ///   - log: libmicrohttpd's own messages (a malformed request, a socket error).
    ///   - failed: a request that ended in an error before it was answered.
    /// - Parameters:
    ///   - served: connections whose requests are handled; requests on more get 503 +
    ///     Retry-After at once; `accepted` in all (beyond, closed at accept).
    ///   - timeout: seconds a connection may idle or take to send its request.
    ///   - headBytes: a connection's buffer for the request head (a longer head: 431).
    init(listenFD: Int32, maxBody: Int, served: Int = 256, accepted: Int = 288, timeout: Int = 30, headBytes: Int = 32768,
         handle: @escaping (Request) -> Response,
         log: @escaping (String) -> Void, failed: @escaping (Int32) -> Void) throws(Failure) {
        callbacks = Unmanaged.passRetained(Callbacks(handle: handle, log: log, failed: failed))
        var error = [CChar](repeating: 0, count: 256)
        let limits = clp_httpd_limits(served: UInt32(served), accepted: UInt32(accepted), timeout_s: UInt32(timeout), head_bytes: headBytes)
        server = clp_httpd_start(listenFD, maxBody, limits, { ctx, req in
            let c = Unmanaged<Callbacks>.fromOpaque(ctx!).takeUnretainedValue()
            let response = c.handle(Request(raw: req!))
            let headers = response.headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
            if let stream = response.stream {
                let box = Unmanaged.passRetained(StreamBox(stream))
                let ok = clp_httpd_respond_stream(req, UInt32(response.status), headers, { ctx, buf, max in
                    Unmanaged<StreamBox>.fromOpaque(ctx!).takeUnretainedValue().read(into: buf!, max: max)
                }, { ctx in
                    Unmanaged<StreamBox>.fromOpaque(ctx!).release()
                }, box.toOpaque())
                if ok != 0 { box.release() }
                return
            }
            var body = response.bytes
            _ = body.withUnsafeMutableBytes { clp_httpd_respond(req, UInt32(response.status), $0.baseAddress, $0.count, headers) }
        }, { ctx, message in
            Unmanaged<Callbacks>.fromOpaque(ctx!).takeUnretainedValue().log(String(cString: message!))
        }, { ctx, code in
            Unmanaged<Callbacks>.fromOpaque(ctx!).takeUnretainedValue().failed(code)
        }, callbacks.toOpaque(), &error, error.count)
        if server == nil {
            close(listenFD)
            callbacks.release()
            throw Failure(description: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    /// Bytes a stream produced that did not fit the connection's buffer yet.
    private final class StreamBox {
        let stream: any HttpStream
        var pending: [UInt8] = []
        init(_ stream: any HttpStream) { self.stream = stream }

        func read(into buf: UnsafeMutablePointer<CChar>, max: Int) -> Int {
            if pending.isEmpty {
                guard let next = stream.next() else { return -1 }
                pending = next
            }
            let n = min(max, pending.count)
            pending.withUnsafeBytes { UnsafeMutableRawPointer(buf).copyMemory(from: $0.baseAddress!, byteCount: n) }
            pending.removeFirst(n)
            return n
        }
    }

    /// Stops serving: the listening socket is closed and the connection threads end.
    func stop() {
        guard let s = server else { return }
        server = nil
        clp_httpd_stop(s)
        callbacks.release()
    }

    deinit { stop() }
}

/// A streamed response body: ``next()`` blocks until it has bytes (never returns empty)
/// and returns nil at its end. Called on the connection's thread.
protocol HttpStream: AnyObject, Sendable {
    func next() -> [UInt8]?
}
