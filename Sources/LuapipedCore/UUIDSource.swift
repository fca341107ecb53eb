/// Where new message Uuids come from.
public enum UUIDSource: Sendable {
    /// Random version-4 Uuids.
    case random
    /// A counter: run N's Uuids are always the same (for `luapiped test` and tests).
    case deterministic

    /// A generator over this source. Deterministic generators with different `stream`s
    /// never produce the same Uuid.
    public func makeGenerator(stream: UInt32 = 0) -> UUIDGenerator { UUIDGenerator(source: self, stream: stream) }
}

/// Produces Uuids; not shared between threads.
public struct UUIDGenerator {
    package let source: UUIDSource
    package let stream: UInt32
    private var counter: UInt64 = 0
    /// xoshiro256** seeded once from the system's generator: a getrandom() call per Uuid
    /// cost more than the rest of making a message. Uuids need uniqueness, not secrecy.
    private var state: (UInt64, UInt64, UInt64, UInt64)

    package init(source: UUIDSource, stream: UInt32 = 0) {
        self.source = source
        self.stream = stream
        var sys = SystemRandomNumberGenerator()
        state = (sys.next(), sys.next(), sys.next(), sys.next() | 1)
    }

    private mutating func nextRandom() -> UInt64 {
        let result = (state.1 &* 5).rotatedLeft(7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3.rotatedLeft(45)
        return result
    }

    /// The next Uuid (16 bytes, RFC 4122 version 4 layout).
    public mutating func next() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 16) { buf, n in
            write(into: UnsafeMutableRawPointer(buf.baseAddress!))
            n = 16
        }
    }

    /// Writes the next Uuid's 16 bytes at `dst`, without allocating.
    public mutating func write(into dst: UnsafeMutableRawPointer) {
        let a: UInt64, b: UInt64
        switch source {
        case .random:
            a = nextRandom()
            b = nextRandom()
        case .deterministic:
            counter += 1
            a = UInt64(stream).byteSwapped  // first bytes, away from the version nibble
            b = counter.byteSwapped  // big-endian: the counter reads in hex order
        }
        dst.storeBytes(of: a, toByteOffset: 0, as: UInt64.self)
        dst.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
        let p = dst.assumingMemoryBound(to: UInt8.self)
        p[6] = (p[6] & 0x0F) | 0x40
        p[8] = (p[8] & 0x3F) | 0x80
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}
