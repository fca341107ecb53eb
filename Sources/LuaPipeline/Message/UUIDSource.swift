/// Where new message Uuids come from.
public enum UUIDSource: Sendable {
    /// Random version-4 Uuids.
    case random
    /// A counter: run N's Uuids are always the same (for `luapiped test` and tests).
    case deterministic

    /// A generator over this source.
    public func makeGenerator() -> UUIDGenerator { UUIDGenerator(source: self) }
}

/// Produces Uuids; not shared between threads.
public struct UUIDGenerator {
    let source: UUIDSource
    private var counter: UInt64 = 0
    private var rng = SystemRandomNumberGenerator()

    init(source: UUIDSource) { self.source = source }

    /// The next Uuid (16 bytes, RFC 4122 version 4 layout).
    public mutating func next() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        switch source {
        case .random:
            let a = rng.next() as UInt64, b = rng.next() as UInt64
            for i in 0..<8 {
                bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i)))
                bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))
            }
        case .deterministic:
            counter += 1
            for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(7 - i))) }
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return bytes
    }
}
