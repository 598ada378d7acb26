// ThreadPool — persistent workers and a fork–join region with a cheap barrier.
//
// `run { t, n in … }` calls the body once for each slot t of 0..<n and returns when all n are done; kernels split
// their rows by `t` themselves (ggml's convention). The caller runs slot 0, then every slot no worker has claimed
// yet: a worker the host has descheduled (a shared VM, a busy machine) costs the region nothing unless it was
// inside a slot, where a fixed thread-per-slot region waited for it every time. Workers spin on a
// generation counter for a few milliseconds after each region (so back-to-back regions cost well under a
// microsecond of wake-up, and a vCPU is not put to sleep between them) and then sleep on a condition variable (so an
// idle engine uses no CPU).
// Never more threads than usable cores by default: an oversubscribed spin barrier was measured at 300 µs.
// `SKE_THREADS=N` overrides. A region started from inside a region runs serially on the calling thread
// (no deadlock, same results).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CSKESystem

public final class ThreadPool: @unchecked Sendable {
    /// Threads taking part in each region, the caller included.
    public var threadCount: Int { state.threadCount }
    /// Spin iterations before a waiting thread sleeps.
    public var spinLimit: Int { state.spinLimit }

    private let state: State
    private var threads: [pthread_t] = []

    /// The pool used by default: `SKE_THREADS` threads or the number of usable cores.
    public static let shared = ThreadPool(threadCount: (try? defaultThreadCount()) ?? usableCores)

    /// Cores this process may run on (sched_getaffinity), at least 1.
    public static let usableCores: Int = {
        let n = Int(ske_usable_cpus())
        if n > 0 { return n }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// `SKE_THREADS` when set (must be a positive integer), else the usable core count.
    public static func defaultThreadCount(environment: [String: String] = ProcessEnvironment.all) throws -> Int {
        guard let s = environment["SKE_THREADS"], !s.isEmpty else { return usableCores }
        guard let n = Int(s), n >= 1, n <= 1024 else {
            throw SKEError.invalidSetting("SKE_THREADS=\(s): expected an integer from 1 to 1024")
        }
        return n
    }

    /// Spins before sleeping when the pool fits the usable cores: ~5.6 ms of `pause`. With 20,000 (~0.3 ms) the
    /// threads slept and woke many times per token, each vCPU going idle and being woken by an IPI; on a shared
    /// host (this VM) that is where the hypervisor ran other guests. SmolLM2 decode at 2 threads, alternating
    /// settings in the same minutes: 20,000 → 38–43 tokens/s with 36% of the CPU time stolen by the host;
    /// 100,000 → 144–148 (13%); 400,000 → 128–140 (3–6%). An idle engine still sleeps, ~6 ms after its last region.
    public static let longSpin = 400_000
    /// Oversubscribed (more threads than usable cores), a spinning thread holds a core the working one needs: short.
    public static let shortSpin = 2_000

    /// `threadCount` is clamped to 1...4096 (a region's slots are counted in 16 bits).
    public init(threadCount: Int, spinLimit: Int? = nil) {
        let n = min(max(1, threadCount), 4096)
        state = State(threadCount: n, spinLimit: spinLimit ?? (n <= Self.usableCores ? Self.longSpin : Self.shortSpin))
        for index in 1..<state.threadCount {
            // Workers retain only the shared state, so dropping the pool stops and joins them.
            let context = Unmanaged.passRetained(WorkerContext(state: state, index: index)).toOpaque()
            #if os(Linux)
            var tid = pthread_t()
            #else
            var tid: pthread_t?
            #endif
            let rc = pthread_create(&tid, nil, { raw in
                #if os(Linux)
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                #else
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                #endif
                ctx.state.workerLoop(index: ctx.index)
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed with \(rc)")
            #if os(Linux)
            threads.append(tid)
            #else
            threads.append(tid!)
            #endif
        }
    }

    deinit {
        state.stop()
        for t in threads { pthread_join(t, nil) }
    }

    private final class WorkerContext {
        let state: State
        let index: Int
        init(state: State, index: Int) { self.state = state; self.index = index }
    }

    /// Calls `body(threadIndex, threadCount)` on every thread of the pool and waits for all of them.
    /// Costs one small heap allocation (handing a non-escaping closure to the workers goes through
    /// `withoutActuallyEscaping`); hot paths that must not allocate use `runPrepared`.
    public func run(_ body: (_ thread: Int, _ threads: Int) -> Void) {
        withoutActuallyEscaping(body) { state.run($0) }
    }

    /// `run` for a region closure made once and reused (e.g. at plan time): no allocation per region.
    public func runPrepared(_ body: @escaping (_ thread: Int, _ threads: Int) -> Void) {
        state.run(body)
    }

    /// Splits 0..<count into one contiguous range per thread (ranges may be empty) and runs them.
    public func parallelFor(_ count: Int, _ body: (_ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        run { t, n in
            let r = Self.partition(count, part: t, of: n)
            if !r.isEmpty { body(r) }
        }
    }

    /// Inside a region: items 0..<count claimed, not dealt. Slot `thread` takes item `thread` first, then the next
    /// item no slot has taken (`ticket`, zero when the region starts), so a slow or preempted thread holds one item,
    /// not a fixed share. body(item) runs once per item, on whichever thread claimed it.
    @inline(__always)
    public static func forEachClaimed(_ count: Int, thread: Int, of threads: Int, ticket: borrowing Atomic<Int>, _ body: (Int) -> Void) {
        var item = thread
        while item < count {
            body(item)
            item = threads &+ ticket.wrappingAdd(1, ordering: .relaxed).oldValue
        }
    }

    /// `forEachClaimed`, claiming one item ahead: body(item, next) also learns the item this slot takes after this one
    /// (nil when there is none), so that it can bring that item's data in while it computes this one.
    @inline(__always)
    public static func forEachClaimedAhead(_ count: Int, thread: Int, of threads: Int, ticket: borrowing Atomic<Int>,
                                           _ body: (_ item: Int, _ next: Int?) -> Void) {
        var item = thread
        while item < count {
            let next = threads &+ ticket.wrappingAdd(1, ordering: .relaxed).oldValue
            body(item, next < count ? next : nil)
            item = next
        }
    }

    /// The `part`-th of `parts` near-equal contiguous ranges of 0..<count.
    @inline(__always)
    public static func partition(_ count: Int, part: Int, of parts: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let lo = part * base + min(part, extra)
        return lo..<(lo + base + (part < extra ? 1 : 0))
    }

    /// What the caller and the workers share. Both sides spin for `spinLimit` iterations, then sleep on a
    /// condition variable: the workers waiting for a region, the caller waiting for the last worker. Each spin
    /// executes `pause` (~14 ns here; `longSpin` says how long they spin): without it the waiting thread competes with
    /// its SMT sibling for the core, and the sibling is the one still computing (measured: the decode dots of SmolLM2
    /// at 2 threads took 11–23% fewer samples with it).
    private final class State: @unchecked Sendable {
        let threadCount: Int
        let spinLimit: Int
        let generation = Atomic<Int>(0)
        /// The region's generation << 16 | the next unclaimed slot: a claim is a compare-exchange that fails once the
        /// region has moved on, so a late worker never runs a finished region's job.
        let ticket = Atomic<Int>(0)
        /// Slots 1..<n not finished yet.
        let pending = Atomic<Int>(0)
        let sleepers = Atomic<Int>(0)
        let callerSleeping = Atomic<Bool>(false)
        let busy = Atomic<Bool>(false)
        let stopping = Atomic<Bool>(false)
        nonisolated(unsafe) var job: ((Int, Int) -> Void)?
        let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
        let wake: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)
        let done: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)

        init(threadCount: Int, spinLimit: Int) {
            self.threadCount = threadCount
            self.spinLimit = spinLimit
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(wake, nil)
            pthread_cond_init(done, nil)
        }

        deinit {
            pthread_cond_destroy(wake); pthread_cond_destroy(done); pthread_mutex_destroy(mutex)
            mutex.deallocate(); wake.deallocate(); done.deallocate()
        }

        func stop() {
            stopping.store(true, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }

        func run(_ body: @escaping (Int, Int) -> Void) {
            let n = threadCount
            guard n > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
                for t in 0..<n { body(t, n) }  // single thread, or nested region: serial, same partition
                return
            }
            do {
                let escapable = body
                job = escapable
                pending.store(n - 1, ordering: .relaxed)
                let g = generation.load(ordering: .relaxed) &+ 1
                ticket.store(g << 16 | 1, ordering: .releasing)
                generation.store(g, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(wake)
                    pthread_mutex_unlock(mutex)
                }
                escapable(0, n)
                while let slot = claim(g) {
                    escapable(slot, n)
                    pending.subtract(1, ordering: .releasing)
                }
                var spins = 0
                while pending.load(ordering: .acquiring) != 0 {
                    spins += 1
                    if spins < spinLimit { ske_cpu_relax(); continue }
                    pthread_mutex_lock(mutex)
                    callerSleeping.store(true, ordering: .sequentiallyConsistent)
                    while pending.load(ordering: .sequentiallyConsistent) != 0 { pthread_cond_wait(done, mutex) }
                    callerSleeping.store(false, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                }
                job = nil
            }
            busy.store(false, ordering: .releasing)
        }

        func workerLoop(index: Int) {
            var seen = 0
            while true {
                var g = generation.load(ordering: .acquiring)
                var spins = 0
                while g == seen {
                    if spins < spinLimit {
                        spins += 1
                        ske_cpu_relax()
                    } else {
                        pthread_mutex_lock(mutex)
                        sleepers.add(1, ordering: .sequentiallyConsistent)
                        while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                        sleepers.subtract(1, ordering: .sequentiallyConsistent)
                        pthread_mutex_unlock(mutex)
                    }
                    g = generation.load(ordering: .acquiring)
                }
                seen = g
                if stopping.load(ordering: .acquiring) { return }
                // The job is read only after a claim succeeded: the caller cannot finish (and replace it) before
                // this slot is done.
                while let slot = claim(g) {
                    job!(slot, threadCount)
                    let left = pending.subtract(1, ordering: .sequentiallyConsistent).newValue
                    if left == 0 && callerSleeping.load(ordering: .sequentiallyConsistent) {
                        pthread_mutex_lock(mutex)
                        pthread_cond_signal(done)
                        pthread_mutex_unlock(mutex)
                    }
                }
            }
        }

        /// The next unclaimed slot of region `g`, nil when all are taken or the region is over.
        @inline(__always) func claim(_ g: Int) -> Int? {
            var t = ticket.load(ordering: .acquiring)
            while t >> 16 == g && t & 0xFFFF < threadCount {
                let (won, now) = ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing)
                if won { return t & 0xFFFF }
                t = now
            }
            return nil
        }
    }
}
