#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import LuaPipeline

/// A raw HTTP/1.1 exchange for tests (one request per connection, `Connection: close`),
/// so a test can also send what no well-behaved client would.
enum HttpTestClient {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// Sends `raw` and reads the answer until the server closes (nil: no answer).
    static func exchange(port: Int, raw: [UInt8]) -> Response? {
        guard let fd = try? Socket.connect("127.0.0.1:\(port)") else { return nil }
        defer { close(fd) }
        _ = Socket.writeAll(fd, raw)
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard Socket.readable(fd, ms: 100) else { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            got += buf[0..<n]
        }
        let text = String(decoding: got, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            if let c = l.firstIndex(of: ":") { headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces) }
        }
        return Response(status: status, headers: headers, body: String(text[headEnd.upperBound...]))
    }

    static func request(port: Int, method: String = "POST", path: String = "/", headers: [String: String] = [:],
                        body: [UInt8] = [], chunked: Bool = false) -> Response? {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        var out: [UInt8]
        if chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            out = Array(head.utf8)
            var i = 0
            while i < body.count {
                let n = min(1000, body.count - i)
                out += Array((String(n, radix: 16) + "\r\n").utf8) + body[i..<(i + n)] + Array("\r\n".utf8)
                i += n
            }
            out += Array("0\r\n\r\n".utf8)
        } else {
            head += "Content-Length: \(body.count)\r\n\r\n"
            out = Array(head.utf8) + body
        }
        return exchange(port: port, raw: out)
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }
}
