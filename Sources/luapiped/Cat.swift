import ArgumentParser
import FoundationEssentials
import Glibc
import LuaPipeline

/// `luapiped cat FILE`: a framed file (what FileOutput and TcpOutput carry) as JSON lines,
/// like Heka's heka-cat.
struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
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
        let fd = file == "-" ? 0 : open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            writeStandardError("error: cannot open \(file)\n")
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
                        writeStandardError("skipped: a frame that is not a Heka message\n")
                        continue
                    }
                    if let m, !m.matches(view) { continue }
                    out.write(view.decoded().jsonBytes())
                    out.write(CollectionOfOne(0x0A))
                case .error(let e):
                    bad += 1
                    writeStandardError("skipped: \(e)\n")
                }
            }
        }
        while true {
            guard let chunk = readChunk(fd) else {
                writeStandardError("error: cannot read \(file): \(errnoText())\n")
                throw ExitCode(1)
            }
            if chunk.isEmpty { break }
            show(reader.feed(chunk))
        }
        show(reader.finish())
        out.flush()
        if bad > 0 { throw ExitCode(1) }
    }
}
