// The memory planner: every activation and scratch buffer gets an offset in one arena, reusing bytes whose
// values are dead. Lifetimes are [first step, last step] intervals; buffers are placed largest first at the
// lowest 64-byte aligned offset that overlaps no placed buffer alive at the same time (a greedy interval
// colouring, as in tinygrad's and TFLite's planners). Weights (mmapped) and the KV cache are other regions.
public enum Planner {
    public struct Request: Sendable {
        public let bytes: Int
        public let first: Int, last: Int
        public init(bytes: Int, first: Int, last: Int) { self.bytes = bytes; self.first = first; self.last = last }
    }

    public struct Result: Sendable {
        public let offsets: [Int]
        /// Arena bytes the plan needs.
        public let plannedBytes: Int
        /// Bytes if every buffer had its own allocation.
        public let separateBytes: Int
    }

    static func align(_ n: Int) -> Int { (n + 63) & ~63 }

    public static func assign(_ requests: [Request]) -> Result {
        let order = requests.indices.sorted { a, b in
            let ra = requests[a], rb = requests[b]
            return ra.bytes != rb.bytes ? ra.bytes > rb.bytes : ra.first < rb.first
        }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [Int] = []
        var total = 0
        for i in order {
            let r = requests[i]
            // Busy ranges of live-overlapping buffers, sorted by offset; take the first gap that fits.
            let busy = placed.filter { requests[$0].first <= r.last && r.first <= requests[$0].last }
                .map { (offsets[$0], offsets[$0] + align(requests[$0].bytes)) }.sorted { $0.0 < $1.0 }
            var at = 0
            for (lo, hi) in busy {
                if at + align(r.bytes) <= lo { break }
                at = max(at, hi)
            }
            offsets[i] = at
            total = max(total, at + align(r.bytes))
            placed.append(i)
        }
        return Result(offsets: offsets, plannedBytes: total, separateBytes: requests.map { align($0.bytes) }.reduce(0, +))
    }
}
