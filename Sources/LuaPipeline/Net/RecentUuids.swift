/// The last `capacity` Uuids seen, for duplicate detection.
struct RecentUuids {
    let capacity: Int
    private var set = Set<UUIDKey>()
    private var order: [UUIDKey] = []
    private var next = 0

    struct UUIDKey: Hashable {
        let hi: UInt64, lo: UInt64

        /// The key of the 16 bytes at `offset` of `raw`.
        init(_ raw: UnsafeRawBufferPointer, at offset: Int = 0) {
            hi = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            lo = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        }
    }

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ uuid: UnsafeRawBufferPointer) -> Bool {
        uuid.count == 16 && set.contains(UUIDKey(uuid))
    }

    /// Records `uuid`; false when it was already there.
    mutating func insert(_ uuid: UnsafeRawBufferPointer) -> Bool {
        guard uuid.count == 16 else { return true }
        let k = UUIDKey(uuid)
        guard set.insert(k).inserted else { return false }
        if order.count < capacity {
            order.append(k)
        } else {
            set.remove(order[next])
            order[next] = k
            next = (next + 1) % capacity
        }
        return true
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(order.count * 16)
        for i in 0..<order.count {
            let k = order[(next + i) % order.count]
            withUnsafeBytes(of: k.hi) { out += $0 }
            withUnsafeBytes(of: k.lo) { out += $0 }
        }
        return out
    }

    mutating func load(_ data: [UInt8]) {
        data.withUnsafeBytes { raw in
            var i = 0
            while i + 16 <= raw.count {
                _ = insert(UnsafeRawBufferPointer(rebasing: raw[i..<(i + 16)]))
                i += 16
            }
        }
    }
}
