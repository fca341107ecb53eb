import FoundationEssentials
import Glibc
import Synchronization

/// The dashboard's live events (`GET /api/stream`, Server-Sent Events): `health` every
/// second, `output` (its listing entry) when a filter output changes, `terminated`
/// (plugin, reason). Each client has a bounded queue: a client that does not read loses
/// its oldest events (counted in ``dropped``) and never holds anything up.
final class EventHub: Sendable {
    static let queueLimit = 256

    final class Client: HttpStream, @unchecked Sendable {  // `queue` and `closed` are guarded by `condition`
        private let condition = Condition()
        private var queue: [[UInt8]] = []
        private var closed = false
        private weak var hub: EventHub?
        private let health: @Sendable () -> String
        private var lastHealth = Date.distantPast

        init(hub: EventHub, health: @escaping @Sendable () -> String) {
            self.hub = hub
            self.health = health
        }

        /// Queues an event; the oldest goes when the queue is full (returns whether one did).
        func push(_ event: [UInt8]) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            var dropped = false
            if queue.count >= EventHub.queueLimit {
                queue.removeFirst()
                dropped = true
            }
            queue.append(event)
            condition.signal()
            return dropped
        }

        func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }

        func next() -> [UInt8]? {
            condition.lock()
            while queue.isEmpty && !closed && Date().timeIntervalSince(lastHealth) < 1 {
                _ = condition.wait(until: lastHealth.addingTimeInterval(1))
            }
            if closed {
                condition.unlock()
                hub?.remove(self)
                return nil
            }
            if !queue.isEmpty {
                let e = queue.removeFirst()
                condition.unlock()
                return e
            }
            lastHealth = Date()
            condition.unlock()
            return EventHub.event("health", health())
        }
    }

    private let clients = Mutex<[ObjectIdentifier: Client]>([:])
    private let closed = Atomic<Bool>(false)
    /// Events lost by clients that did not keep up.
    let dropped = Atomic<Int>(0)

    init() {}

    /// One `event:`/`data:` block (data split at newlines, as the format requires).
    static func event(_ name: String, _ data: String) -> [UInt8] {
        var text = "event: \(name)\n"
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        return Array((text + "\n").utf8)
    }

    func subscribe(health: @escaping @Sendable () -> String) -> Client {
        let c = Client(hub: self, health: health)
        if closed.load(ordering: .relaxed) { c.close() }
        clients.withLock { $0[ObjectIdentifier(c)] = c }
        return c
    }

    func remove(_ c: Client) { _ = clients.withLock { $0.removeValue(forKey: ObjectIdentifier(c)) } }

    var clientCount: Int { clients.withLock { $0.count } }

    func publish(_ name: String, _ data: String) {
        let e = Self.event(name, data)
        for c in clients.withLock({ Array($0.values) }) where c.push(e) { dropped.add(1, ordering: .relaxed) }
    }

    /// Ends every stream (the server stops).
    func close() {
        closed.store(true, ordering: .relaxed)
        for c in clients.withLock({ Array($0.values) }) { c.close() }
    }
}
