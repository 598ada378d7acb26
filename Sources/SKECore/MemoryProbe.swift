// MemoryProbe — a quick read-bandwidth measurement: the physical limit that decode speed is judged
// against ("Report speed as a ratio against the physical limit"). Sums a buffer larger than the
// last-level cache with SIMD16<Float> adds and a software prefetch 4 KiB ahead into L1, plus, pass by pass,
// an L2-only prefetch 16 or 64 KiB ahead or none (the decode kernels read with an L1 and an L2 stream: one
// core's reads are bounded by the lines it can have in flight, and the L2 stream raised both the kernels'
// and this probe's rate by 10–25% on one thread); the best pass.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum MemoryProbe {
    public struct Result: Sendable, Codable {
        public let bytes: Int
        public let threads: Int
        public let gigabytesPerSecond: Double
    }

    /// Reads `bytes` bytes `passes` times on `pool`'s threads; returns the best pass in GB/s (1e9 B/s).
    public static func readBandwidth(bytes: Int = 256 << 20, passes: Int = 5, pool: ThreadPool = .shared) throws -> Result {
        try Buffer(bytes: bytes).readBandwidth(passes: passes, pool: pool)
    }

    /// The probe's buffer, allocated and filled once, for callers that probe again and again (`ske bench model`
    /// after every repetition: a fresh 256 MiB each time spent most of the probe's time clearing pages).
    public final class Buffer {
        let arena: Arena
        let p: UnsafeMutablePointer<SIMD16<Float>>
        let count: Int

        public init(bytes: Int = 256 << 20) throws {
            arena = try Arena(capacity: bytes)
            count = bytes / MemoryLayout<SIMD16<Float>>.stride
            p = try arena.allocate(SIMD16<Float>.self, count: count, label: "probe")
            let (p, count) = (p, count)
            ThreadPool.shared.parallelFor(count) { r in for i in r { p[i] = SIMD16(repeating: Float(i & 7)) } }
        }

        /// Reads the buffer `passes` times on `pool`'s threads; the best pass in GB/s.
        public func readBandwidth(passes: Int = 5, pool: ThreadPool = .shared) -> Result {
            let (p, count) = (p, count)
            var best = 0.0
            let sinks = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount * 16)
            defer { sinks.deallocate() }
            for pass in 0..<passes {
                // Pass by pass: an L2-only prefetch stream 16 KiB / 64 KiB further ahead, or none (see the comment above).
                let far = [256, 1024, 0][pass % 3]
                let t0 = monotonicNanoseconds()
                pool.run { t, n in
                    let r = ThreadPool.partition(count, part: t, of: n)
                    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                    var i = r.lowerBound
                    while i + 4 <= r.upperBound {
                        corePrefetch(UnsafeRawPointer(p + i + 64))  // 4 KiB ahead, as the gemv kernels do
                        if far > 0 { for j in 0..<4 { llvmPrefetchCore(UnsafeRawPointer(p + i + far + j), 0, 2, 1) } }
                        a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3]
                        i += 4
                    }
                    while i < r.upperBound { a0 += p[i]; i += 1 }
                    sinks[t * 16] = ((a0 + a1) + (a2 + a3)).sum()
                }
                let dt = Double(monotonicNanoseconds() - t0) / 1e9
                best = max(best, Double(count * 64) / dt / 1e9)
            }
            return Result(bytes: count * 64, threads: pool.threadCount, gigabytesPerSecond: best)
        }
    }
}

@_silgen_name("llvm.prefetch.p0")
func llvmPrefetchCore(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

/// prefetcht0 (LLVM's intrinsic; the C `_mm_prefetch` is a macro Swift cannot import).
@inline(__always) public func corePrefetch(_ p: UnsafeRawPointer) { llvmPrefetchCore(p, 0, 3, 1) }

/// prefetcht1 over [p, p + bytes): into L2, one request per 64-byte line.
@inline(__always) public func corePrefetchL2(_ p: UnsafeRawPointer, bytes: Int) {
    var l = 0
    while l < bytes { llvmPrefetchCore(p + l, 0, 2, 1); l &+= 64 }
}

/// Nanoseconds from a monotonic clock.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
