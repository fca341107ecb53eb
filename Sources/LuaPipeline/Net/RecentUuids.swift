import FoundationEssentials

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

/// Recognises what a sender sends again (a resend after a lost acknowledgement, a NATS
/// redelivery) by its Uuid, for TcpInput with `ack = true` and NatsInput. The recent
/// Uuids are kept across clean restarts in `path` and rebuilt from the durable queue after
/// a crash. A message's Uuid is remembered only once its record is stored, so a record
/// that could not be stored is not taken for a duplicate when it comes again. Used on one
/// thread (the input's decoding thread).
struct ResentMessages {
    let path: String
    private var recent = RecentUuids(capacity: 200_000)
    /// The Uuids admitted for the record being handled.
    private var pending: [[UInt8]] = []

    init(path: String, queue: DurableQueue?) {
        self.path = path
        if let data = FileSystem.contents(path) { recent.load(data) }
        queue?.forEachUuid { _ = recent.insert($0) }
    }

    /// Whether the message with `uuid` is new (to be stored): not when seen recently or
    /// earlier in the same record; a message without a Uuid always is.
    mutating func admit(_ view: MessageView) -> Bool {
        guard let r = view.range(of: .uuid) else { return true }
        let uuid = UnsafeRawBufferPointer(rebasing: view.bytes[r])
        if recent.contains(uuid) || pending.contains(where: { $0.elementsEqual(uuid) }) { return false }
        pending.append(Array(uuid))
        return true
    }

    /// Ends the record: its Uuids are remembered when it was `stored`, forgotten otherwise.
    mutating func finish(stored: Bool) {
        if stored { for u in pending { u.withUnsafeBytes { _ = recent.insert($0) } } }
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes the recent Uuids to `path` (a clean stop).
    func save(_ log: PipelineLog, _ name: String) {
        do {
            try CheckpointWriter.write(recent.bytes(), to: path)
        } catch {
            log.error(name, "cannot save the recent Uuids (\(error)): resends after the restart go undetected")
        }
    }
}
