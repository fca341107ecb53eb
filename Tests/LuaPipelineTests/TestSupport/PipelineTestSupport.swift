import Foundation
@testable import LuaPipeline

/// Config sections several pipeline tests share: the bundled nginx decoder, the status
/// filter (preserving its counts) and a JSON file of its summaries.
func nginxStatusSections(luaDirectory: String, summaryPath: String = "summary.json") -> String {
    """
    [nginx]
    type = "SandboxDecoder"
    filename = "\(luaDirectory)/decoders/nginx_access.lua"
    [nginx.config]
    type = "nginx.access"

    [status]
    type = "SandboxFilter"
    filename = "\(luaDirectory)/filters/http_status_count.lua"
    message_matcher = "Type == 'nginx.access'"
    preserve_data = true

    [summary]
    type = "FileOutput"
    path = "\(summaryPath)"
    message_matcher = "Type == 'heka.sandbox.http_status_count'"
    encoder = "JsonEncoder"

    [JsonEncoder]

    """
}

/// A whole pipeline tailing `logs/access.log` into the nginx sections above.
func tailingNginxSections(luaDirectory: String) -> String {
    """
    [luapiped]
    base_dir = "state"
    share_dir = "\(luaDirectory)"

    [access]
    type = "LogstreamerInput"
    log_directory = "logs"
    file_match = 'access\\.log$'
    rescan_interval = "20ms"
    decoder = "nginx"

    """ + nginxStatusSections(luaDirectory: luaDirectory)
}

/// Writes `bytes` into the write end of a pipe from another thread, then closes it (the
/// pipeline reading the other end sees the end of its input).
func writeInBackground(_ bytes: [UInt8], to fd: Int32) {
    let writer = Thread {
        writeAll(bytes, to: fd)
        close(fd)
    }
    writer.start()
}

/// Appends `text` to the file at `url`, creating it (a program writing its log).
func append(_ text: String, toFile url: URL) throws {
    if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
    let h = try FileHandle(forWritingTo: url)
    try h.seekToEnd()
    try h.write(contentsOf: Data(text.utf8))
    try h.close()
}

/// Appends lines (each ended by a newline) to the file at `url`, creating it.
func append<S: Sequence<String>>(lines: S, toFile url: URL) throws {
    try append(lines.joined(separator: "\n") + "\n", toFile: url)
}

/// Writes all of `bytes` to `fd` (a pipe standing in for a daemon's stdin), blocking.
func writeAll(_ bytes: [UInt8], to fd: Int32) {
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { break }
            off += n
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
