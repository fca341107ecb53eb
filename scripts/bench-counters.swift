// Counter update cost: the old design (a locked dictionary keyed by strings, as
// PluginCounters was before the counters were declared) against the new one (a declared
// slot index and a relaxed atomic add). Run by scripts/bench; prints ns per update.
import Foundation
import Synchronization

final class LockedDictionary: @unchecked Sendable {
    private let values = Mutex<[String: Int64]>([:])
    func add(_ key: String, _ n: Int64 = 1) { values.withLock { $0[key, default: 0] += n } }
}

final class AtomicSlots: @unchecked Sendable {
    final class Slot { let value = Atomic<Int64>(0) }
    private let slots = (0..<40).map { _ in Slot() }
    @inline(never) func add(_ slot: Int, _ n: Int64 = 1) { slots[slot].value.wrappingAdd(n, ordering: .relaxed) }
}

func nanosPerUpdate(_ n: Int, _ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n)
}

let n = 20_000_000
let keys = ["records", "processed", "bytes", "decode_failures"]
let old = LockedDictionary(), new = AtomicSlots()
var best = (Double.infinity, Double.infinity)
for _ in 0..<3 {
    best.0 = min(best.0, nanosPerUpdate(n) { for i in 0..<n { old.add(keys[i & 3]) } })
    best.1 = min(best.1, nanosPerUpdate(n) { for i in 0..<n { new.add(i & 3) } })
}
print(String(format: "counter update, locked dictionary (before): %.1f ns; declared atomic slot (after): %.1f ns; %.1fx faster", best.0, best.1, best.0 / best.1))
