/// Heka's MultiDecoder. `cascade_strategy = "first-wins"`: the sub-decoders are tried in
/// order and the first that accepts the record makes the messages. `"all"`: every
/// sub-decoder runs, in order, each on what the previous one made (the first on the
/// record); a message a sub-decoder refuses goes on unchanged. The record fails only when
/// no sub-decoder accepted anything.
public final class MultiDecoder: RecordDecoder {
    let subs: [(name: String, decoder: any RecordDecoder)]
    let logSubErrors: Bool
    let log: PipelineLog
    let name: String
    let all: Bool

    init(name: String, subs: [(name: String, decoder: any RecordDecoder)], all: Bool = false, logSubErrors: Bool, log: PipelineLog) {
        self.name = name
        self.subs = subs
        self.all = all
        self.logSubErrors = logSubErrors
        self.log = log
    }

    public func decode(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        if all { return chain(record, emit) }
        var reasons: [String] = []
        for (subName, sub) in subs {
            guard let why = sub.decode(record, emit) else { return nil }
            if logSubErrors { log.info(name, "\(subName): \(why)") }
            reasons.append("\(subName): \(why)")
        }
        return "no sub-decoder accepted the record (" + reasons.joined(separator: "; ") + ")"
    }

    /// `"all"`: each sub-decoder on the previous one's messages (nil: still the record).
    private func chain(_ record: UnsafeRawBufferPointer, _ emit: (MessageView) -> Void) -> String? {
        var current: [MessageView]?
        var reasons: [String] = []
        var accepted = false
        for (subName, sub) in subs {
            func refused(_ why: String) {
                if logSubErrors { log.info(name, "\(subName): \(why)") }
                reasons.append("\(subName): \(why)")
            }
            var made: [MessageView] = []
            guard let messages = current else {
                if let why = sub.decode(record, { made.append($0) }) { refused(why) } else {
                    accepted = true
                    current = made
                }
                continue
            }
            for m in messages {
                var out: [MessageView] = []
                if let why = sub.decode(message: m, { out.append($0) }) {
                    refused(why)
                    made.append(m)
                } else {
                    accepted = true
                    made += out
                }
            }
            current = made
        }
        guard accepted, let current else { return "no sub-decoder accepted the record (" + reasons.joined(separator: "; ") + ")" }
        for m in current { emit(m) }
        return nil
    }
}
