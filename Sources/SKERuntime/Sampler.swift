// Sampling, in llama.cpp's default chain order: penalties → top-k → top-p → min-p → temperature → draw.
import RealModule
import SKECore
// temperature ≤ 0 is greedy (argmax, ties → lowest id, as llama.cpp). The random stream is xoshiro256**
// seeded with SplitMix64 from `seed`, so a seed reproduces a run of ske (not of llama.cpp's mt19937).

public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float = 0.8
    public var topK: Int = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    /// Multiplicative penalty on the logits of tokens seen in the last `penaltyLastN` (1 = off).
    public var repeatPenalty: Float = 1
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    public var penaltyLastN: Int = 64
    public var seed: UInt64 = 0
    public init() {}
    public static var greedy: SamplingParameters { var p = SamplingParameters(); p.temperature = 0; return p }
}

public struct Sampler {
    public var parameters: SamplingParameters
    var rng: Xoshiro256
    var candidates: [(id: Int32, logit: Float)] = []
    var counts: [Int32: Int] = [:]

    public init(_ p: SamplingParameters) {
        parameters = p
        rng = Xoshiro256(seed: p.seed)
    }

    /// Argmax, lowest id on ties.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// Picks the next token from `logits` [V]; `history` is the sequence so far (for penalties).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: ArraySlice<Int32>) -> Int32 {
        let p = parameters
        let penalize = p.repeatPenalty != 1 || p.presencePenalty != 0 || p.frequencyPenalty != 0
        if p.temperature <= 0 && !penalize { return Self.argmax(logits) }
        candidates.removeAll(keepingCapacity: true)
        for i in 0..<logits.count { candidates.append((Int32(i), logits[i])) }
        if penalize && p.penaltyLastN != 0 {
            counts.removeAll(keepingCapacity: true)
            let window = p.penaltyLastN < 0 ? history : history.suffix(p.penaltyLastN)
            for t in window { counts[t, default: 0] += 1 }
            for (t, c) in counts where Int(t) < candidates.count {
                var l = candidates[Int(t)].logit
                l = l > 0 ? l / p.repeatPenalty : l * p.repeatPenalty
                l -= Float(c) * p.frequencyPenalty + p.presencePenalty
                candidates[Int(t)].logit = l
            }
        }
        if p.temperature <= 0 {
            var best = 0
            for i in 1..<candidates.count where candidates[i].logit > candidates[best].logit { best = i }
            return candidates[best].id
        }
        // Sorted by logit (descending), cut to top-k first so the sort is small.
        let k = p.topK > 0 ? min(p.topK, candidates.count) : candidates.count
        if k < candidates.count {
            candidates = Array(candidates.partialTopK(k))
        }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if p.topP < 1 {
            let probs = softmax(candidates.map(\.logit))
            var sum: Float = 0, keep = candidates.count
            for (i, q) in probs.enumerated() { sum += q; if sum >= p.topP { keep = i + 1; break } }
            candidates.removeLast(candidates.count - keep)
        }
        if p.minP > 0, let top = candidates.first?.logit {
            let floor = top + Float.log(p.minP)
            candidates.removeAll { $0.logit < floor }
        }
        let probs = softmax(candidates.map { $0.logit / p.temperature })
        let u = Float(rng.nextDouble())
        var acc: Float = 0
        for (i, q) in probs.enumerated() { acc += q; if u < acc { return candidates[i].id } }
        return candidates.last!.id
    }

    func softmax(_ x: [Float]) -> [Float] {
        guard let m = x.max() else { return [] }
        let e = x.map { Float.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}

extension Array where Element == (id: Int32, logit: Float) {
    /// The k largest by logit (unordered), in O(n log k).
    func partialTopK(_ k: Int) -> ArraySlice<Element> {
        var heap: [Element] = []   // min-heap on logit
        heap.reserveCapacity(k)
        func less(_ a: Element, _ b: Element) -> Bool { a.logit < b.logit || (a.logit == b.logit && a.id > b.id) }
        func down(_ i: Int) {
            var i = i
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && less(heap[l], heap[m]) { m = l }
                if r < heap.count && less(heap[r], heap[m]) { m = r }
                if m == i { return }
                heap.swapAt(i, m); i = m
            }
        }
        for e in self {
            if heap.count < k {
                heap.append(e)
                var i = heap.count - 1
                while i > 0 && less(heap[i], heap[(i - 1) / 2]) { heap.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
            } else if less(heap[0], e) {
                heap[0] = e; down(0)
            }
        }
        return heap[...]
    }
}

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
struct Xoshiro256 {
    var s: (UInt64, UInt64, UInt64, UInt64)
    init(seed: UInt64) {
        var x = SplitMix64(seed: seed)
        s = (x.next(), x.next(), x.next(), x.next())
    }
    mutating func next() -> UInt64 {
        let r = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3; s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return r
    }
    /// Uniform in [0, 1).
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
