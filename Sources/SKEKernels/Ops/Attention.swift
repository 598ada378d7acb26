// Causal scaled-dot-product attention with grouped-query heads, sliding window and logit soft-capping.
//
// Letters: B batch, T tokens, NH query heads, NKV key/value heads (NH % NKV == 0; query head h reads kv head
// h / (NH/NKV)), HS head size, TK keys in the cache.
//
// Training (forward + backward):
//   q [B, T, NH, HS], k, v [B, T, NKV, HS] → out [B, T, NH, HS]
//   Saved for backward: att [B, NH, T, T] (the softmax probabilities; entries outside the mask are 0).
//   Backward accumulates dq, dk, dv (+=); with soft-capping it recomputes the raw scores from q and k.
// Inference (`decode`): q [T, NH, HS] at positions, K/V cache [TK, NKV, HS] or head-major [NKV, CTX, HS] (`KVLayout`);
//   scores are built for one query row at a time in a caller-provided row buffer [TK] — never the full [T, TK] block.
// Mask: key j is visible to query i iff pos_j ≤ pos_i and (window == 0 or pos_i − pos_j < window), the rule
//   llama.cpp uses for Gemma's sliding layers. Soft-cap: s ← cap·tanh(s/cap) (cap 0 = off).
// Not done: flash-style tiling over keys, multi-threading (the executor splits rows over threads; SIMDOps.attentionGroup
// takes four rows of one K/V head per pass).
import RealModule

public struct AttentionParameters: Sendable {
    public var heads: Int, kvHeads: Int, headSize: Int
    public var scale: Double
    public var window: Int
    public var softCap: Double
    public init(heads: Int, kvHeads: Int, headSize: Int, scale: Double? = nil, window: Int = 0, softCap: Double = 0) {
        self.heads = heads; self.kvHeads = kvHeads; self.headSize = headSize
        self.scale = scale ?? 1 / Double(headSize).squareRoot()
        self.window = window; self.softCap = softCap
    }
    @inlinable public func visible(query: Int, key: Int) -> Bool {
        key <= query && (window == 0 || query - key < window)
    }
}

/// Where a K/V cache keeps position j of K/V head kh: values j·rowStride + kh·headStride ..< + HS.
public struct KVLayout: Sendable, Equatable {
    public var rowStride: Int, headStride: Int
    public init(rowStride: Int, headStride: Int) { self.rowStride = rowStride; self.headStride = headStride }
    /// Where position j of K/V head kh starts, in values.
    @inlinable public func offset(position j: Int, head kh: Int) -> Int { j * rowStride + kh * headStride }
    /// [TK, NKV, HS]: one position's heads together (a K/V projection's rows as they come).
    public static func positionMajor(_ p: AttentionParameters) -> KVLayout { KVLayout(rowStride: p.kvHeads * p.headSize, headStride: p.headSize) }
    /// [NKV, CTX, HS]: each head's positions contiguous, so reading one head's rows is a stream (the executor's caches).
    public static func headMajor(_ p: AttentionParameters, context: Int) -> KVLayout { KVLayout(rowStride: p.headSize, headStride: context * p.headSize) }
}

public enum Attention {
    @inlinable @_specialize(where F == Float)
    public static func forward<F: Real & BinaryFloatingPoint>(
        q: UnsafePointer<F>, k: UnsafePointer<F>, v: UnsafePointer<F>, out: UnsafeMutablePointer<F>, att: UnsafeMutablePointer<F>,
        batch b: Int, tokens t: Int, _ p: AttentionParameters
    ) {
        let nh = p.heads, nkv = p.kvHeads, hs = p.headSize, group = nh / nkv
        let scale = F(p.scale), cap = F(p.softCap)
        for bi in 0..<b {
            for h in 0..<nh {
                let kh = h / group
                for i in 0..<t {
                    attendRow(q: q + ((bi * t + i) * nh + h) * hs, keys: k + (bi * t * nkv + kh) * hs, values: v + (bi * t * nkv + kh) * hs,
                              stride: nkv * hs, count: t, visible: { p.visible(query: i, key: $0) }, headSize: hs, scale: scale, cap: cap,
                              row: att + ((bi * nh + h) * t + i) * t, out: out + ((bi * t + i) * nh + h) * hs)
                }
            }
        }
    }

    /// One query row: scores against `count` keys (masked keys get probability 0), softmax into `row`
    /// (normalised, so the training forward can keep it), then out = Σ row[j]·v_j. Keys/values at stride.
    @inlinable @inline(__always)
    static func attendRow<F: Real & BinaryFloatingPoint, C: BinaryFloatingPoint>(
        q qi: UnsafePointer<F>, keys: UnsafePointer<C>, values: UnsafePointer<C>, stride: Int, count: Int, visible: (Int) -> Bool,
        headSize hs: Int, scale: F, cap: F, row: UnsafeMutablePointer<F>, out o: UnsafeMutablePointer<F>
    ) {
        var m = -F.infinity
        for j in 0..<count {
            guard visible(j) else { row[j] = -F.infinity; continue }
            let kj = keys + j * stride
            var s: F = 0
            for d in 0..<hs { s += qi[d] * F(kj[d]) }
            s *= scale
            if cap > 0 { s = cap * F.tanh(s / cap) }
            row[j] = s
            m = max(m, s)
        }
        var sum: F = 0
        for j in 0..<count {
            let e = row[j] == -F.infinity ? 0 : F.exp(row[j] - m)
            row[j] = e; sum += e
        }
        let inv = sum > 0 ? 1 / sum : 0
        for d in 0..<hs { o[d] = 0 }
        for j in 0..<count where row[j] != 0 {
            row[j] *= inv
            let pj = C.self == Float16.self ? F(Float(Float16(Float(row[j])))) : row[j]   // an f16 cache meets f16 probabilities
            let vj = values + j * stride
            for d in 0..<hs { o[d] += pj * F(vj[d]) }
        }
    }

    @inlinable @_specialize(where F == Float)
    public static func backward<F: Real & BinaryFloatingPoint>(
        dout: UnsafePointer<F>, q: UnsafePointer<F>, k: UnsafePointer<F>, v: UnsafePointer<F>, att: UnsafePointer<F>,
        dq: UnsafeMutablePointer<F>, dk: UnsafeMutablePointer<F>, dv: UnsafeMutablePointer<F>,
        scratch ds: UnsafeMutablePointer<F>, batch b: Int, tokens t: Int, _ p: AttentionParameters
    ) {
        let nh = p.heads, nkv = p.kvHeads, hs = p.headSize, group = nh / nkv
        let scale = F(p.scale), cap = F(p.softCap)
        for bi in 0..<b {
            for h in 0..<nh {
                let kh = h / group
                for i in 0..<t {
                    let qi = q + ((bi * t + i) * nh + h) * hs, dqi = dq + ((bi * t + i) * nh + h) * hs
                    let doi = dout + ((bi * t + i) * nh + h) * hs
                    let row = att + ((bi * nh + h) * t + i) * t
                    // dp_j = dout·v_j;  dv_j += p_j·dout
                    var dot: F = 0
                    for j in 0..<t {
                        ds[j] = 0
                        guard row[j] != 0 else { continue }
                        let vj = v + ((bi * t + j) * nkv + kh) * hs, dvj = dv + ((bi * t + j) * nkv + kh) * hs
                        var dp: F = 0
                        for d in 0..<hs { dp += doi[d] * vj[d]; dvj[d] += row[j] * doi[d] }
                        ds[j] = dp
                        dot += dp * row[j]
                    }
                    for j in 0..<t where row[j] != 0 {
                        let kj = k + ((bi * t + j) * nkv + kh) * hs, dkj = dk + ((bi * t + j) * nkv + kh) * hs
                        var g = row[j] * (ds[j] - dot)  // d loss / d (capped score)
                        if cap > 0 {
                            var s: F = 0
                            for d in 0..<hs { s += qi[d] * F(kj[d]) }
                            let th = F.tanh(s * scale / cap)
                            g *= 1 - th * th
                        }
                        g *= scale
                        for d in 0..<hs { dqi[d] += g * kj[d]; dkj[d] += g * qi[d] }
                    }
                }
            }
        }
    }

    /// Inference: out[t, h] = softmax(q[t, h]·K) · V over the visible cache entries. `row` holds TK scores.
    /// The cache holds C values (Float, or Float16 as llama.cpp's default KV cache).
    /// Hot in decode (called per layer per token).
    @inlinable @_specialize(where F == Float, C == Float) @_specialize(where F == Float, C == Float16)
    public static func decode<F: Real & BinaryFloatingPoint, C: BinaryFloatingPoint>(
        q: UnsafePointer<F>, positions: UnsafePointer<Int32>, tokens t: Int,
        kCache: UnsafePointer<C>, vCache: UnsafePointer<C>, cacheLength tk: Int, out: UnsafeMutablePointer<F>,
        row: UnsafeMutablePointer<F>, _ p: AttentionParameters, heads: Range<Int>? = nil, layout: KVLayout? = nil
    ) {
        let nh = p.heads, nkv = p.kvHeads, hs = p.headSize, group = nh / nkv, kv = layout ?? .positionMajor(p)
        let scale = F(p.scale), cap = F(p.softCap)
        for i in 0..<t {
            let pos = Int(positions[i])
            for h in heads ?? 0..<nh {
                let kh = h / group
                attendRow(q: q + (i * nh + h) * hs, keys: kCache + kh * kv.headStride, values: vCache + kh * kv.headStride, stride: kv.rowStride, count: tk,
                          visible: { p.visible(query: pos, key: $0) }, headSize: hs, scale: scale, cap: cap, row: row, out: out + (i * nh + h) * hs)
            }
        }
    }
}
