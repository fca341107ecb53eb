import Foundation

/// The embedded default pipeline of this early build: standard input, one message per
/// line (Type "stdin"), printed in JSON form like Heka's LogOutput. The real pipeline
/// (router, inputs, outputs, TOML config) replaces it.
public enum PlaceholderPipeline {
    public static func run() throws {
        let err = ByteSink(fd: 2)
        err.write("luapiped \(LuaPipelineVersion.string): embedded default pipeline: stdin -> LogOutput (Ctrl-D to stop)\n")
        err.flush()
        let out = ByteSink(fd: 1)
        let reader = try ChunkReader(path: nil)
        var splitter = LineSplitter()
        var uuids = UUIDSource.random.makeGenerator()
        let host = Sandbox.defaultHostname()
        let handle: (UnsafeRawBufferPointer) -> Bool = { line in
            let m = Message(uuid: uuids.next(), timestamp: Sandbox.now(), type: "stdin",
                            payload: String(decoding: line, as: UTF8.self), pid: Int32(getpid()), hostname: host)
            out.write(m.jsonBytes())
            out.write(CollectionOfOne(0x0A))
            out.flush()
            return true
        }
        while true {
            let chunk = reader.read()
            if chunk.isEmpty { break }
            _ = splitter.feed(chunk, handle)
        }
        _ = splitter.finish(handle)
    }
}
