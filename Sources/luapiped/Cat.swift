import ArgumentParser
import Foundation
import LuaPipeline

/// `luapiped cat FILE`: a framed file (what FileOutput and TcpOutput carry) as JSON lines,
/// like Heka's heka-cat.
struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a file of framed Heka protobuf messages as JSON lines (- for standard input).")

    @Argument(help: "The framed file.") var file: String
    @Option(help: "Print only messages this message_matcher accepts.") var matcher: String?

    func run() throws {
        let m: MessageMatcher?
        do {
            m = try matcher.map { try MessageMatcher($0) }
        } catch {
            throw ValidationError("\(error)")
        }
        guard let handle = file == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: file) else {
            FileHandle.standardError.write(Data("error: cannot open \(file)\n".utf8))
            throw ExitCode(1)
        }
        let out = ByteSink(fd: 1)
        var reader = FramedStreamReader()
        var bad = 0
        func show(_ records: [FramedRecord]) {
            for r in records {
                switch r {
                case .message(let bytes):
                    guard let view = try? MessageView(encoded: bytes) else {
                        bad += 1
                        FileHandle.standardError.write(Data("skipped: a frame that is not a Heka message\n".utf8))
                        continue
                    }
                    if let m, !m.matches(view) { continue }
                    out.write(view.decoded().jsonBytes())
                    out.write(CollectionOfOne(0x0A))
                case .error(let e):
                    bad += 1
                    FileHandle.standardError.write(Data("skipped: \(e)\n".utf8))
                }
            }
        }
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            show(reader.feed(chunk))
        }
        show(reader.finish())
        out.flush()
        if bad > 0 { throw ExitCode(1) }
    }
}
