import CHekaWire
import Foundation
import Synchronization
import Testing
@testable import LuapipedCore

/// The blocks messages in flight live in (heka_block.h): a block freed on another thread
/// goes back to the thread that made it, and nothing is handed out twice.
@Suite struct MessageBlockTests {
    /// Runs `body` on a thread of its own and waits for it to end.
    static func onThread(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            body()
            done.signal()
        }
        t.start()
        done.wait()
    }

    @Test func aBlockFreedOnAnotherThreadIsReusedByItsMaker() {
        let block = UInt(bitPattern: heka_block_alloc(300))
        #expect(block != 0)
        #expect(block % 16 == 0)
        Self.onThread { heka_block_free(UnsafeMutableRawPointer(bitPattern: block)) }
        // This thread may hold spare blocks of the class already (1 MiB at most: 2048 of
        // 512 bytes); once they are used, what other threads gave back comes next.
        var taken: [UnsafeMutableRawPointer] = []
        var found = false
        while !found && taken.count < 4096, let p = heka_block_alloc(400) {
            taken.append(p)
            found = UInt(bitPattern: p) == block
        }
        #expect(found)
        for p in taken { heka_block_free(p) }
    }

    @Test func largeBlocksAreMallocsAndAnyThreadFreesThem() {
        let big = UInt(bitPattern: heka_block_alloc(64 * 1024))
        #expect(big != 0)
        UnsafeMutableRawPointer(bitPattern: big)!.initializeMemory(as: UInt8.self, repeating: 7, count: 64 * 1024)
        Self.onThread { heka_block_free(UnsafeMutableRawPointer(bitPattern: big)) }
        heka_block_free(nil)
    }

    /// Blocks outlive the thread that made them; its heap is adopted by a later thread,
    /// which then gets them back.
    @Test func blocksOfAThreadThatEndedAreFreedAndReused() {
        let made = Mutex<[UInt]>([])
        Self.onThread {
            let blocks = (0..<8).map { _ in UInt(bitPattern: heka_block_alloc(1000)) }
            made.withLock { $0 = blocks }
        }
        let blocks = made.withLock { $0 }
        #expect(Set(blocks).count == 8 && !blocks.contains(0))
        for b in blocks { heka_block_free(UnsafeMutableRawPointer(bitPattern: b)) }
        Self.onThread {
            let p = heka_block_alloc(1000)
            p?.storeBytes(of: 1, as: UInt64.self)
            heka_block_free(p)
        }
    }

    /// Makers and freers on four threads: every live block is distinct and keeps what
    /// was written in it until it is freed.
    @Test func blocksHandedBetweenThreadsAreNeverShared() {
        let queue = Mutex<[UInt]>([])
        let rounds = 20000
        let freed = Atomic<Int>(0)
        let broken = Atomic<Int>(0)
        let ended = DispatchGroup()
        func start(_ body: @escaping @Sendable () -> Void) {
            ended.enter()
            Thread {
                body()
                ended.leave()
            }.start()
        }
        for m in 0..<2 {
            start {
                for i in 0..<rounds {
                    let size = [200, 700, 3000][i % 3]
                    let fill = UInt8(truncatingIfNeeded: m * 7 + i)
                    let p = heka_block_alloc(size)!
                    p.initializeMemory(as: UInt8.self, repeating: fill, count: size)
                    p.storeBytes(of: UInt64(size) << 8 | UInt64(fill), as: UInt64.self)
                    queue.withLock { $0.append(UInt(bitPattern: p)) }
                }
            }
        }
        for _ in 0..<2 {
            start {
                while freed.load(ordering: .relaxed) < 2 * rounds {
                    guard let b = queue.withLock({ $0.popLast() }) else { continue }
                    let p = UnsafeMutableRawPointer(bitPattern: b)!
                    let tag = p.load(as: UInt64.self)
                    let size = Int(tag >> 8), fill = UInt8(tag & 0xFF)
                    if (8..<size).contains(where: { p.load(fromByteOffset: $0, as: UInt8.self) != fill }) {
                        broken.add(1, ordering: .relaxed)
                    }
                    heka_block_free(p)
                    freed.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(ended.wait(timeout: .now() + 120) == .success)
        #expect(broken.load(ordering: .relaxed) == 0)
        #expect(freed.load(ordering: .relaxed) == 2 * rounds)
    }
}
