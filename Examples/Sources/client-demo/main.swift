// A checkout service's use of LuapipedClient: its logs through swift-log, its metrics
// through swift-metrics (StatsD), and one acknowledged event per order.
//
// Usage: client-demo LOGS_ADDRESS EVENTS_ADDRESS STATSD_ADDRESS ORDERS
import Glibc
import Logging
import LuapipedClient
import Metrics

let args = CommandLine.arguments
guard args.count == 5, let orders = Int(args[4]) else {
    print("usage: client-demo LOGS_ADDRESS EVENTS_ADDRESS STATSD_ADDRESS ORDERS")
    exit(2)
}

// Logs: never block the service; what a down daemon cannot take is dropped and counted.
let shipper = LuapipedShipper(address: args[1]) { dropped, why in
    if dropped == 1 { print("log records dropped: \(why)") }
}
LoggingSystem.bootstrap { LuapipedLogHandler(label: $0, shipper: shipper) }
// Metrics: StatsD lines, batched into datagrams.
let statsd = try StatsdSender(address: args[3])
MetricsSystem.bootstrap(LuapipedMetricsFactory(sender: statsd, prefix: "checkout"))
// Events: emit returns once the daemon stored the event.
let events = LuapipedEvents(address: args[2])

let logger = Logger(label: "checkout")
let placed = Counter(label: "orders_placed")
for i in 0..<orders {
    logger.info("order placed", metadata: ["order": .stringConvertible(i), "currency": "EUR"])
    placed.increment()
    do {
        try await events.emit(LuapipedMessage(type: "order.placed", payload: "order \(i)", logger: "checkout",
                                              fields: [("amount", .double(9.5 + Double(i)))]))
    } catch {
        print("order \(i) not acknowledged: \(error)")
        exit(1)
    }
}
statsd.flush()
// Give the shipper and the StatsD thread a moment to hand over what they hold.
while shipper.sent < orders || !statsd.isIdle { try await Task.sleep(for: .milliseconds(10)) }
print("placed \(orders) orders")
statsd.close()
shipper.close()
events.close()
