// MemoryProbe — a quick read-bandwidth measurement: the physical limit that decode speed is judged
// against ("Report speed as a ratio against the physical limit"). Sums a buffer larger than the
// last-level cache with SIMD16<Float> FMAs; best of several passes.
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
        let arena = try Arena(capacity: bytes)
        let count = bytes / MemoryLayout<SIMD16<Float>>.stride
        let p = try arena.allocate(SIMD16<Float>.self, count: count, label: "probe")
        pool.parallelFor(count) { r in for i in r { p[i] = SIMD16(repeating: Float(i & 7)) } }
        var best = 0.0
        let sinks = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount * 16)
        defer { sinks.deallocate() }
        for _ in 0..<passes {
            let t0 = monotonicNanoseconds()
            pool.run { t, n in
                let r = ThreadPool.partition(count, part: t, of: n)
                var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                var i = r.lowerBound
                while i + 4 <= r.upperBound {
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

/// Nanoseconds from a monotonic clock.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
