import Foundation
import Synchronization
import Testing
@testable import LuaPipeline

/// One owner thread per Lua state (DESIGN §3), checked on every entry.
@Suite struct PinnedSandboxTests {
    /// Runs `body` on a new named thread and waits for it (bounded).
    private func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) throws -> T {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            ThreadName.set(name)
            box.value = body()
            done.signal()
        }
        t.start()
        #expect(done.wait(timeout: .now() + 30) == .success, "thread \(name) did not finish")
        return try #require(box.value)
    }

    @Test func aSecondThreadIsRefusedWithBothThreadsNamed() throws {
        let h = try ScriptHarness("function process_message() return 0 end")
        let pinned = PinnedSandbox(h.sandbox)
        let first = try onThread("owner-thread") { (try? pinned.enter { $0.processMessage(MessageView(ScriptHarness.sample)) }.get()) == .ok(status: 0, message: nil) }
        #expect(first)
        let refusal = try onThread("intruder-thread") { () -> String in
            do {
                _ = try pinned.enter { $0.processMessage(MessageView(ScriptHarness.sample)) }
                return "entered"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal.contains("owned by thread 'owner-thread'"), "\(refusal)")
        #expect(refusal.contains("entered from thread 'intruder-thread'"), "\(refusal)")
    }

    @Test func anExplicitHandOverLetsTheNextThreadClaimIt() throws {
        let h = try ScriptHarness("n = 0 function process_message() n = n + 1 return 0 end")
        let pinned = PinnedSandbox(h.sandbox)
        let released = try onThread("builder") { () -> Bool in
            _ = try? pinned.enter { $0.processMessage(MessageView(ScriptHarness.sample)) }
            return (try? pinned.release()) != nil
        }
        #expect(released)
        let second = try onThread("worker") { (try? pinned.enter { $0.processMessage(MessageView(ScriptHarness.sample)) }.get()) == .ok(status: 0, message: nil) }
        #expect(second)
        // The builder no longer owns it: releasing from a third thread is refused.
        let stolen = try onThread("third") { (try? pinned.release()) != nil }
        #expect(!stolen)
    }

    @Test func aFilterSteppedFromASecondThreadIsRefusedAndTheWatchdogsHandOverIsHonoured() throws {
        let h = try ScriptHarness("n = 0 function process_message() n = n + 1 return 0 end")
        let router = Router()
        let logged = Mutex<[String]>([])
        let runner = SandboxFilterRunner(
            name: "f", sandbox: h.sandbox,
            settings: FilterSettings(tickerInterval: 0, preservePath: nil, statePath: "/nonexistent", retries: .never, rebuild: { nil }),
            reader: router.addReader(name: "f"), router: router, counters: PluginCounters(name: "f", category: .filter),
            log: PipelineLog(sink: { line in logged.withLock { $0.append(line) } }), maxProcessInject: 1, maxTimerInject: 1)
        _ = router.append(MessageView(ScriptHarness.sample))
        #expect(try onThread("worker-a") { runner.step() })
        #expect(runner.counters[.processed] == 1)
        _ = router.append(MessageView(ScriptHarness.sample))
        #expect(try onThread("worker-b") { runner.step() } == false)
        #expect(runner.counters[.processed] == 1)
        let refusal = try #require(logged.withLock { $0 }.first)
        #expect(refusal.contains("owned by thread 'worker-a'") && refusal.contains("entered from thread 'worker-b'"), "\(refusal)")
        // Handed over between two calls (what the watchdog does), the next worker claims it.
        runner.thread.handOver()
        #expect(try onThread("worker-b") { runner.step() })
        #expect(runner.counters[.processed] == 2)
    }
}

final class Box<T>: @unchecked Sendable {  // written by one thread before a semaphore signal, read after the wait
    var value: T?
}
