import Testing
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
@testable import SKECore

@Suite("Thread pool")
struct ThreadPoolTests {
    @Test("parallelFor visits every index exactly once", arguments: [1, 2, 3, 4], [0, 1, 2, 7, 31, 1000, 4099])
    func coverage(threads: Int, count: Int) {
        let pool = ThreadPool(threadCount: threads)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
        hits.initialize(repeating: 0, count: max(1, count))
        defer { hits.deallocate() }
        for _ in 0..<20 {  // many back-to-back regions: the barrier must hold every time
            pool.parallelFor(count) { r in for i in r { hits[i] += 1 } }
        }
        #expect((0..<count).allSatisfy { hits[$0] == 20 })
    }

    /// Claimed items (decode rows, SGEMM/AMX blocks, panels): every item once per region; the look-ahead form tells each
    /// body the item its slot runs next (nil after the slot's last).
    @Test("forEachClaimed and forEachClaimedAhead run every item exactly once; next is the slot's next item",
          arguments: [1, 2, 3, 5], [0, 1, 7, 100])
    func claimed(threads: Int, count: Int) {
        let pool = ThreadPool(threadCount: threads)
        let ticket = Atomic<Int>(0)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count + 1)
        // Per slot: the item its last body said comes next (−1: none run yet, −2: nil).
        let expected = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        defer { hits.deallocate(); expected.deallocate() }
        for lookAhead in [false, true] {
            hits.initialize(repeating: 0, count: count + 1); expected.initialize(repeating: -1, count: threads)
            let bad = Atomic<Int>(0)
            ticket.store(0, ordering: .relaxed)
            pool.run { th, n in
                if lookAhead {
                    ThreadPool.forEachClaimedAhead(count, thread: th, of: n, ticket: ticket) { i, next in
                        hits[i] += 1
                        // The slot's first item is its own index; every later one is the one announced before it.
                        if expected[th] == -1 ? i != th : expected[th] != i { bad.add(1, ordering: .relaxed) }
                        expected[th] = next ?? -2
                    }
                } else {
                    ThreadPool.forEachClaimed(count, thread: th, of: n, ticket: ticket) { i in hits[i] += 1 }
                }
            }
            #expect((0..<count).allSatisfy { hits[$0] == 1 }, "look-ahead \(lookAhead)")
            #expect(bad.load(ordering: .relaxed) == 0)
            // Every slot that ran an item ended on nil.
            if lookAhead { #expect((0..<threads).allSatisfy { expected[$0] == -1 || expected[$0] == -2 }) }
        }
    }

    @Test("run calls the body once per thread index", arguments: [1, 2, 3, 8])
    func runIndices(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        seen.initialize(repeating: 0, count: threads)
        defer { seen.deallocate() }
        pool.run { t, n in
            precondition(n == threads)
            seen[t] += 1
        }
        #expect((0..<threads).allSatisfy { seen[$0] == 1 })
    }

    @Test("workers that went to sleep wake up for the next region")
    func sleepAndWake() {
        let pool = ThreadPool(threadCount: 2, spinLimit: 10)
        let total = Atomic<Int>(0)
        for _ in 0..<50 {
            pool.run { _, _ in total.add(1, ordering: .relaxed) }
            for _ in 0..<2000 { _ = total.load(ordering: .relaxed) }  // let the worker fall asleep
        }
        #expect(total.load(ordering: .relaxed) == 100)
    }

    /// Slots are claimed, not owned: with its worker asleep (woken only after the caller's slot 0 is done) the
    /// caller runs the worker's slot itself instead of waiting for the wake-up; a late worker runs nothing twice.
    @Test("every slot runs exactly once per region, whichever thread claims it; the caller takes slots no worker has claimed", arguments: [2, 3, 5])
    func claimedSlots(threads: Int) {
        let pool = ThreadPool(threadCount: threads, spinLimit: 1)
        let regions = 2000
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        hits.initialize(repeating: 0, count: threads)
        defer { hits.deallocate() }
        let callerRanOthers = Atomic<Int>(0)
        let caller = pthread_self()
        for _ in 0..<regions {
            pool.run { t, n in
                precondition(n == threads)
                hits[t] += 1   // one writer per slot per region: any double run shows as a count above `regions`
                if t != 0 && pthread_equal(pthread_self(), caller) != 0 { callerRanOthers.add(1, ordering: .relaxed) }
            }
        }
        #expect((0..<threads).allSatisfy { hits[$0] == regions })
        #expect(callerRanOthers.load(ordering: .relaxed) > 0)
    }

    @Test("a region started inside a region runs serially instead of deadlocking")
    func nested() {
        let pool = ThreadPool(threadCount: 2)
        let total = Atomic<Int>(0)
        pool.run { _, _ in
            pool.run { _, _ in total.add(1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 4)
    }

    @Test("partition covers 0..<count contiguously", arguments: [0, 1, 5, 64, 1001])
    func partition(count: Int) {
        for parts in 1...9 {
            var next = 0
            for p in 0..<parts {
                let r = ThreadPool.partition(count, part: p, of: parts)
                #expect(r.lowerBound == next)
                next = r.upperBound
            }
            #expect(next == count)
        }
    }

    @Test("SKE_THREADS overrides the core count; bad values are clear errors")
    func environment() throws {
        #expect(try ThreadPool.defaultThreadCount(environment: [:]) == ThreadPool.usableCores)
        #expect(try ThreadPool.defaultThreadCount(environment: ["SKE_THREADS": "3"]) == 3)
        for bad in ["0", "-1", "two", "100000"] {
            #expect(throws: SKEError.self) { try ThreadPool.defaultThreadCount(environment: ["SKE_THREADS": bad]) }
        }
        #expect(ThreadPool.usableCores >= 1)
    }
}
