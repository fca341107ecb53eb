/// Building a view straight from header values, for inputs that make one message per
/// record: one encoding pass, no intermediate ``Message``.
extension MessageView {
    /// A message with the given Uuid, Timestamp, Type and Payload (and nothing else).
    public static func make(uuid: [UInt8], timestamp: Int64, type: String, payload: UnsafeRawBufferPointer) -> MessageView {
        var out: [UInt8] = []
        out.reserveCapacity(32 + type.utf8.count + payload.count)
        out.appendLengthDelimited(1, uuid)
        out.appendTag(2, .varint)
        out.appendVarint(UInt64(bitPattern: timestamp))
        out.appendLengthDelimited(3, type.utf8)
        out.appendLengthDelimited(6, payload)
        // Well-formed by construction.
        return try! MessageView(encoded: out)
    }
}
