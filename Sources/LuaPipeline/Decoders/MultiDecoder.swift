/// Tries its sub-decoders in order and keeps the first that accepts the record (Heka's
/// MultiDecoder with `cascade_strategy = "first-wins"`). Heka's "all" strategy, where
/// each sub-decoder rewrites the previous one's message, is not supported yet.
public final class MultiDecoder: RecordDecoder {
    let subs: [(name: String, decoder: any RecordDecoder)]
    let logSubErrors: Bool
    let log: PipelineLog
    let name: String

    init(name: String, subs: [(name: String, decoder: any RecordDecoder)], logSubErrors: Bool, log: PipelineLog) {
        self.name = name
        self.subs = subs
        self.logSubErrors = logSubErrors
        self.log = log
    }

    public func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        var reasons: [String] = []
        for (subName, sub) in subs {
            guard let why = sub.decode(record, emit) else { return nil }
            if logSubErrors { log.info(name, "\(subName): \(why)") }
            reasons.append("\(subName): \(why)")
        }
        return "no sub-decoder accepted the record (" + reasons.joined(separator: "; ") + ")"
    }
}
