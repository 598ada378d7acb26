// SIMD versions of the float ops on the decode path (written once, compiled into SKEKernelsAVX2 with
// SIMD8<Float> and into SKEKernelsAVX512 with SIMD16<Float>; see SGEMM.swift for `Vec`).
//   rmsNorm  x [N, C], w [C] → y [N, C]         (x·rstd)·w, as the reference
//   softmax  x [N, C] → y [N, C]                 exp via the reference's own libm call per element
//   dot / axpy                                   the inner loops of attention over a KV cache
//   attentionDecode  q [T, NH, HS], K/V cache [TK, NKV, HS] → out [T, NH, HS], one score row at a time
//   attentionGroup   the same for prefill: four query rows of one K/V head per pass over K and V, bit for bit the above
// Contract: equal to SKEKernels' reference ops within 1e-5 relative (only summation order differs).
// Not done: vectorised exp/tanh (softmax and soft-capping call libm per element), RoPE (pairwise, cheap).
#if arch(x86_64)
#if canImport(Glibc)
import Glibc
#endif
import _Builtin_intrinsics.intel

/// What a KV cache holds: f32, or f16 (llama.cpp's default; half the bytes), widened to f32 lanes on load.
protocol KVScalar {
    static func vector(_ p: UnsafePointer<Self>) -> Vec
    var float: Float { get }
}
extension Float: KVScalar {
    @inline(__always) static func vector(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
    @inline(__always) var float: Float { self }
}
extension Float16: KVScalar {
    /// One vcvtph2ps (Swift's generic SIMD conversion was an out-of-line call per vector).
    @inline(__always) static func vector(_ p: UnsafePointer<Float16>) -> Vec {
#if SKE_VNNI
        _mm512_cvtph_ps(UnsafeRawPointer(p).loadUnaligned(as: __m256i.self))
#else
        _mm256_cvtph_ps(UnsafeRawPointer(p).loadUnaligned(as: __m128i.self))
#endif
    }
    @inline(__always) var float: Float { Float(self) }
}

public enum SIMDOps {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
    @inline(__always) static func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self) }

    /// eˣ lane by lane for x ≤ 0 (softmax's shifted scores): 2ⁿ·p(r) with n = round(x·log₂e), r = x − n·ln 2 (ln 2
    /// split in two) and Cephes' degree-7 polynomial: within 1 ulp of expf on 2²⁰ points of [−100, 0] (FastOpsTests).
    /// Lanes below −87.3 give 0 (expf gives a subnormal below 1.2e−38 there). Softmax ran libm's expf one score at a
    /// time: at a context of 2k that was ~0.5M calls per token for a 135M model, as long as streaming its weights.
    @inline(__always) static func expNonPositive(_ x: Vec) -> Vec {
        let floor = Vec(repeating: -87.33654), big = Vec(repeating: 12_582_912)  // 1.5·2²³: adding it rounds to an integer
        let under = x .< floor, xc = x.replacing(with: floor, where: under)
        let t = xc * 1.442_695_04 + big, n = t - big  // n's integer value sits in t's low mantissa bits
        let r = (xc - n * 0.693_359_375) - n * -2.121_944_4e-4
        var p = Vec(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 0.166_666_655
        p = p * r + 0.500_000_01
        p = p * (r * r) + r + 1
        let scale = unsafeBitCast((unsafeBitCast(t, to: IntVec.self) &- unsafeBitCast(big, to: IntVec.self) &+ 127) &<< 23, to: Vec.self)
        return (p * scale).replacing(with: 0, where: under)
    }

    /// silu(x) lane by lane: x·σ(x), σ from e^−|x| (FastSilu in SKEKernels does the same operations on one value).
    @inline(__always) static func silu(_ x: Vec) -> Vec {
        let negative = x .< 0, e = expNonPositive((-x).replacing(with: x, where: negative))
        let s = 1 / (1 + e)
        return x * s.replacing(with: e * s, where: negative)
    }

    /// y[i] = silu(g[i])·u[i] over n values; the tail through the same lanes (zero-padded).
    public static func siluGLU(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let w = Vec.scalarCount
        var i = 0
        while i + w <= n { store(silu(load(g + i)) * load(u + i), y + i); i += w }
        guard i < n else { return }
        var gv = Vec(), uv = Vec()
        for j in 0..<(n - i) { gv[j] = g[i + j]; uv[j] = u[i + j] }
        let r = silu(gv) * uv
        for j in 0..<(n - i) { y[i + j] = r[j] }
    }

    /// y[j] = e^(x[j] − m) for j in range (y may be x); returns their sum (vector lanes, then the scalar tail).
    @inline(__always) static func expShiftedSum(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: ClosedRange<Int>, _ m: Float) -> Float {
        let w = Vec.scalarCount, mv = Vec(repeating: m)
        var acc = Vec(), j = range.lowerBound
        while j + w <= range.upperBound + 1 { let e = expNonPositive(load(x + j) - mv); store(e, y + j); acc += e; j += w }
        var sum = acc.sum()
        while j <= range.upperBound { let e = expf(x[j] - m); y[j] = e; sum += e; j += 1 }
        return sum
    }

    /// Σ a[i]·b[i] with four vector accumulators; b may be f32 or f16 (a KV cache row).
    @inline(__always)
    static func dot<C: KVScalar>(_ a: UnsafePointer<Float>, _ b: UnsafePointer<C>, _ n: Int) -> Float {
        let w = Vec.scalarCount
        var (s0, s1, s2, s3) = dotAccumulators(a, b, n)
        var i = n / (4 * w) * (4 * w)
        while i + w <= n { s0.addProduct(load(a + i), C.vector(b + i)); i += w }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < n { s += a[i] * b[i].float; i += 1 }
        return s
    }

    /// `dot`'s four vector accumulators over the first n / (4·w) · 4·w values.
    @inline(__always)
    static func dotAccumulators<C: KVScalar>(_ a: UnsafePointer<Float>, _ b: UnsafePointer<C>, _ n: Int) -> (Vec, Vec, Vec, Vec) {
        let w = Vec.scalarCount
        var s0 = Vec(), s1 = Vec(), s2 = Vec(), s3 = Vec()
        var i = 0
        while i + 4 * w <= n {
            s0.addProduct(load(a + i), C.vector(b + i)); s1.addProduct(load(a + i + w), C.vector(b + i + w))
            s2.addProduct(load(a + i + 2 * w), C.vector(b + i + 2 * w)); s3.addProduct(load(a + i + 3 * w), C.vector(b + i + 3 * w))
            i += 4 * w
        }
        return (s0, s1, s2, s3)
    }

    /// `dot`'s vector part for n a multiple of 4·w: ((s0 + s1) + (s2 + s3)) before the horizontal sum.
    @inline(__always)
    static func dotVector<C: KVScalar>(_ a: UnsafePointer<Float>, _ b: UnsafePointer<C>, _ n: Int) -> Vec {
        let (s0, s1, s2, s3) = dotAccumulators(a, b, n)
        return (s0 + s1) + (s2 + s3)
    }

#if SKE_VNNI
    /// The two-source permute indices of butterfly stage b of a 16×16 transpose (swap the off-diagonal b×b blocks of
    /// rows i and i + b): lo = e, or e + 16 − b where e & b ≠ 0; hi = e + b, or e + 16 there. Intrinsics on a constant,
    /// no table (a lazily built global would allocate on first use, possibly inside a decode step) and no SIMD16<Int32>
    /// lane arithmetic (its mask and `replacing` compiled to a per-lane loop).
    @inline(__always)
    static func butterfly(_ b: Int32) -> (lo: __m512i, hi: __m512i) {
        let e = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
        let upper = _mm512_test_epi32_mask(e, _mm512_set1_epi32(b))
        let lo = _mm512_mask_add_epi32(e, upper, e, _mm512_set1_epi32(16 - b))
        let hi = _mm512_mask_blend_epi32(upper, _mm512_add_epi32(e, _mm512_set1_epi32(b)), _mm512_add_epi32(e, _mm512_set1_epi32(16)))
        return (lo, hi)
    }

    /// Lane p of the result = v[p].sum() for p in 0..<16, bit for bit (SIMD.sum() adds lanes 0…15 in order): a 16×16
    /// transpose in four butterfly stages, then the lanes added in order as whole vectors. Overwrites v.
    @inline(__always)
    static func sums16(_ v: UnsafeMutablePointer<Vec>) -> Vec {
        var b = 8
        while b >= 1 {
            let (ilo, ihi) = butterfly(Int32(b))
            for i in 0..<16 where i & b == 0 {
                let x = v[i], y = v[i + b]
                v[i] = _mm512_permutex2var_ps(x, ilo, y)
                v[i + b] = _mm512_permutex2var_ps(x, ihi, y)
            }
            b >>= 1
        }
        var acc = v[0]
        for i in 1..<16 { acc = acc + v[i] }
        return acc
    }
#endif

    /// y[i] += α·x[i]; x may be f32 or f16 (a KV cache row).
    @inline(__always)
    static func axpy<C: KVScalar>(_ alpha: Float, _ x: UnsafePointer<C>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let w = Vec.scalarCount, av = Vec(repeating: alpha)
        var i = 0
        while i + w <= n { store(load(y + i).addingProduct(av, C.vector(x + i)), y + i); i += w }
        while i < n { y[i] += alpha * x[i].float; i += 1 }
    }

    /// o[0..<n] += Σ_{j in js} p[j]·v[j·stride ..< j·stride + n], four output vectors at a time kept in registers
    /// over all j (the same per-element order as repeated `axpy`: j ascending, one fused multiply-add each).
    @inline(__always)
    static func weightedSum<C: KVScalar>(_ p: UnsafePointer<Float>, _ js: ClosedRange<Int>, _ v: UnsafePointer<C>, _ stride: Int,
                                         _ o: UnsafeMutablePointer<Float>, _ n: Int) {
        let w = Vec.scalarCount
        var c = 0
        while c + 4 * w <= n {
            var a0 = load(o + c), a1 = load(o + c + w), a2 = load(o + c + 2 * w), a3 = load(o + c + 3 * w)
            for j in js {
                let pj = Vec(repeating: p[j]), vj = v + j * stride + c
                a0.addProduct(pj, C.vector(vj)); a1.addProduct(pj, C.vector(vj + w))
                a2.addProduct(pj, C.vector(vj + 2 * w)); a3.addProduct(pj, C.vector(vj + 3 * w))
            }
            store(a0, o + c); store(a1, o + c + w); store(a2, o + c + 2 * w); store(a3, o + c + 3 * w)
            c += 4 * w
        }
        if c < n { for j in js { axpy(p[j], v + j * stride + c, o + c, n - c) } }
    }

    public static func rmsNorm(x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, eps: Float) {
        let w = Vec.scalarCount
        for r in 0..<n {
            let xi = x + r * c, yi = y + r * c
            let scale = 1 / (dot(xi, xi, c) / Float(c) + eps).squareRoot()
            let sv = Vec(repeating: scale)
            var i = 0
            if let weight {
                while i + w <= c { store((load(xi + i) * sv) * load(weight + i), yi + i); i += w }
                while i < c { yi[i] = (xi[i] * scale) * weight[i]; i += 1 }
            } else {
                while i + w <= c { store(load(xi + i) * sv, yi + i); i += w }
                while i < c { yi[i] = xi[i] * scale; i += 1 }
            }
        }
    }

    public static func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int) {
        let w = Vec.scalarCount
        for r in 0..<n {
            let xi = x + r * c, yi = y + r * c
            var mv = Vec(repeating: -.infinity)
            var i = 0
            while i + w <= c { mv = pointwiseMax(mv, load(xi + i)); i += w }
            var m = mv.max()
            while i < c { m = Swift.max(m, xi[i]); i += 1 }
            let s = c > 0 ? expShiftedSum(xi, yi, 0...(c - 1), m) : 0
            let inv = Vec(repeating: 1 / s)
            i = 0
            while i + w <= c { store(load(yi + i) * inv, yi + i); i += w }
            while i < c { yi[i] *= 1 / s; i += 1 }
        }
    }

    /// Decode attention over an f32 cache; `row` holds TK scores. Heads `heads` only (threads split heads).
    /// The K/V cache holds f32 values, or f16 when `half` (llama.cpp's default; read widened to f32 lanes).
    public static func attentionDecode(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens t: Int,
                                       kCache: UnsafeRawPointer, vCache: UnsafeRawPointer, half: Bool, cacheLength tk: Int,
                                       out: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>,
                                       heads nh: Int, kvHeads nkv: Int, headSize hs: Int, scale: Float, window: Int, softCap: Float,
                                       headRange: Range<Int>, kvRowStride: Int, kvHeadStride: Int) {
        let s = AttentionShape(heads: nh, kvHeads: nkv, headSize: hs, scale: scale, window: window, softCap: softCap, cacheLength: tk,
                               rowStride: kvRowStride, headStride: kvHeadStride)
        if half {
            attend(q: q, positions: positions, tokens: t, kCache: kCache.assumingMemoryBound(to: Float16.self),
                   vCache: vCache.assumingMemoryBound(to: Float16.self), out: out, row: row, s, headRange: headRange)
        } else {
            attend(q: q, positions: positions, tokens: t, kCache: kCache.assumingMemoryBound(to: Float.self),
                   vCache: vCache.assumingMemoryBound(to: Float.self), out: out, row: row, s, headRange: headRange)
        }
    }

    /// Attention (prefill and decode) for the query rows (t, h), t in `tokens`, h in `headRange` (heads of one K/V head,
    /// h / group the same for all), t-major: four rows at a time read each K and V row once and widen it once for all four, which
    /// one row at a time read and widened it four times. Every row's result equals `attentionDecode`'s bit for bit: each
    /// score, each probability and each output lane sees the same operations in the same order (see `attendGroup`).
    /// q [T, NH, HS] and out [T, NH, HS] are indexed by t as `positions` is; `rows` holds four score rows `rowStride`
    /// (≥ TK) floats apart, then `groupWorkspaceFloats` floats of workspace.
    public static func attentionGroup(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens: Range<Int>, headRange: Range<Int>,
                                      kCache: UnsafeRawPointer, vCache: UnsafeRawPointer, half: Bool, cacheLength tk: Int,
                                      out: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>, rowStride: Int,
                                      heads nh: Int, kvHeads nkv: Int, headSize hs: Int, scale: Float, window: Int, softCap: Float,
                                      kvRowStride: Int, kvHeadStride: Int) {
        let s = AttentionShape(heads: nh, kvHeads: nkv, headSize: hs, scale: scale, window: window, softCap: softCap, cacheLength: tk,
                               rowStride: kvRowStride, headStride: kvHeadStride)
        if half {
            attendGroup(q: q, positions: positions, tokens: tokens, headRange: headRange, kCache: kCache.assumingMemoryBound(to: Float16.self),
                        vCache: vCache.assumingMemoryBound(to: Float16.self), out: out, rows: rows, rowStride: rowStride, s)
        } else {
            attendGroup(q: q, positions: positions, tokens: tokens, headRange: headRange, kCache: kCache.assumingMemoryBound(to: Float.self),
                        vCache: vCache.assumingMemoryBound(to: Float.self), out: out, rows: rows, rowStride: rowStride, s)
        }
    }

    /// Workspace `attentionGroup` needs after its four score rows: 64 vectors of 16 floats, 64-byte aligned.
    public static let groupWorkspaceFloats = 64 * 16 + 16

    struct AttentionShape {
        let heads: Int, kvHeads: Int, headSize: Int, scale: Float, window: Int, softCap: Float, cacheLength: Int
        /// Position j of K/V head kh sits at j·rowStride + kh·headStride (SKEKernels' KVLayout).
        let rowStride: Int, headStride: Int
        var group: Int { heads / kvHeads }
        @inline(__always) func offset(_ j: Int, _ kh: Int) -> Int { j &* rowStride &+ kh &* headStride }
        /// The positions a query at `pos` sees (empty when first > last).
        @inline(__always) func visible(_ pos: Int) -> (first: Int, last: Int) {
            (window > 0 ? Swift.max(0, pos - window + 1) : 0, Swift.min(cacheLength - 1, pos))
        }
        /// Positions prefetched ahead of the one being read. With a position-major cache the rows of one head sit
        /// kvHeads·headSize values apart, a stride the hardware prefetcher picks up late: each K row was a cache miss.
        /// Head-major rows are one stream, and still decode at a depth of 2048 was ~20% slower without these requests.
        static let ahead = 8
    }

    /// Requests K and V cache row `j` of K/V head `kh`.
    @inline(__always)
    static func prefetchRows<C: KVScalar>(_ kCache: UnsafePointer<C>, _ vCache: UnsafePointer<C>, _ j: Int, _ kh: Int, _ s: AttentionShape) {
        let k = UnsafeRawPointer(kCache + s.offset(j, kh)), v = UnsafeRawPointer(vCache + s.offset(j, kh))
        var l = 0
        while l < s.headSize * MemoryLayout<C>.stride { prefetch(k + l); prefetch(v + l); l += 64 }
    }

    @inline(__always)
    static func attend<C: KVScalar>(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens t: Int,
                                    kCache: UnsafePointer<C>, vCache: UnsafePointer<C>, out: UnsafeMutablePointer<Float>,
                                    row: UnsafeMutablePointer<Float>, _ s: AttentionShape, headRange: Range<Int>) {
        withPartials(16) { partials in
            for i in 0..<t {
                for h in headRange {
                    attendRow(q + (i * s.heads + h) * s.headSize, Int(positions[i]), h / s.group, kCache, vCache,
                              out + (i * s.heads + h) * s.headSize, row, s, partials)
                }
            }
        }
    }

    /// Scratch vectors for the sixteen-position score groups (AVX-512 only; nil on AVX2, which has none).
    @inline(__always)
    static func withPartials(_ count: Int, _ body: (UnsafeMutablePointer<Vec>?) -> Void) {
#if SKE_VNNI
        withUnsafeTemporaryAllocation(of: Vec.self, capacity: count) { body($0.baseAddress!) }
#else
        body(nil)
#endif
    }

    /// One query row `qi` at position `pos` against K/V head `kh`: scores into `row`, softmax, weighted sum of V into `o`.
    @inline(__always)
    static func attendRow<C: KVScalar>(_ qi: UnsafePointer<Float>, _ pos: Int, _ kh: Int, _ kCache: UnsafePointer<C>, _ vCache: UnsafePointer<C>,
                                       _ o: UnsafeMutablePointer<Float>, _ row: UnsafeMutablePointer<Float>, _ s: AttentionShape,
                                       _ partials: UnsafeMutablePointer<Vec>?) {
        let (first, last) = s.visible(pos)
        for d in 0..<s.headSize { o[d] = 0 }
        guard first <= last else { return }
        for j in first..<Swift.min(first + AttentionShape.ahead, last + 1) { prefetchRows(kCache, vCache, j, kh, s) }
        var m = -Float.infinity
        scores(qi, kh, kCache, vCache, from: first, through: last, row, &m, s, partials)
        probabilities(row, first, last, m, C.self)
        weightedSum(row, first...last, vCache + kh * s.headStride, s.rowStride, o, s.headSize)
    }

    /// row[j] = (q·K[j])·scale (soft-capped) for j in j0...last, m = the running maximum. j0 sits a multiple of 16
    /// positions after the row's first: sixteen positions at a time on AVX-512 (`dot`'s vector part per position, then
    /// the sixteen horizontal sums as lanes of one vector: `sums16`, the same values bit for bit), then one at a time.
    @inline(__always)
    static func scores<C: KVScalar>(_ qi: UnsafePointer<Float>, _ kh: Int, _ kCache: UnsafePointer<C>, _ vCache: UnsafePointer<C>,
                                    from j0: Int, through last: Int, _ row: UnsafeMutablePointer<Float>, _ m: inout Float,
                                    _ s: AttentionShape, _ partials: UnsafeMutablePointer<Vec>?) {
        let hs = s.headSize, ahead = AttentionShape.ahead
        var j0 = j0
#if SKE_VNNI
        let partials = partials!
        if hs % (4 * Vec.scalarCount) == 0 {
            while j0 + 16 <= last + 1 {
                for p in 0..<16 {
                    let j = j0 + p
                    if j + ahead <= last { prefetchRows(kCache, vCache, j + ahead, kh, s) }
                    partials[p] = dotVector(qi, kCache + s.offset(j, kh), hs)
                }
                store(sums16(partials) * Vec(repeating: s.scale), row + j0)
                if s.softCap > 0 { for j in j0..<(j0 + 16) { row[j] = s.softCap * tanhf(row[j] / s.softCap) } }
                for j in j0..<(j0 + 16) { m = Swift.max(m, row[j]) }
                j0 += 16
            }
        }
#endif
        var j = j0
        while j <= last {
            if j + ahead <= last { prefetchRows(kCache, vCache, j + ahead, kh, s) }
            var x = dot(qi, kCache + s.offset(j, kh), hs) * s.scale
            if s.softCap > 0 { x = s.softCap * tanhf(x / s.softCap) }
            row[j] = x
            m = Swift.max(m, x)
            j += 1
        }
    }

    /// Scores → probabilities in place over first...last (max m); rounded to f16 when they will meet an f16 V cache,
    /// as llama.cpp's do.
    @inline(__always)
    static func probabilities<C: KVScalar>(_ row: UnsafeMutablePointer<Float>, _ first: Int, _ last: Int, _ m: Float, _: C.Type) {
        let inv = 1 / expShiftedSum(row, row, first...last, m)
        if C.self == Float16.self {
            for j in first...last { row[j] = Float(Float16(row[j] * inv)) }
        } else {
            for j in first...last { row[j] *= inv }
        }
    }

    @inline(__always)
    static func attendGroup<C: KVScalar>(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens: Range<Int>, headRange: Range<Int>,
                                         kCache: UnsafePointer<C>, vCache: UnsafePointer<C>, out: UnsafeMutablePointer<Float>,
                                         rows: UnsafeMutablePointer<Float>, rowStride: Int, _ s: AttentionShape) {
        let hs = s.headSize, nh = s.heads, kh = headRange.lowerBound / s.group, n = tokens.count * headRange.count
        // The four rows' sixteen-position partial vectors: workspace after the score rows (64 vectors on the stack
        // would be a heap allocation per call: withUnsafeTemporaryAllocation only trusts the stack up to 1 KiB).
#if SKE_VNNI
        let partials: UnsafeMutablePointer<Vec>? = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: rows + 4 * rowStride) + 63) & ~63)!
            .assumingMemoryBound(to: Vec.self)
#else
        let partials: UnsafeMutablePointer<Vec>? = nil
#endif
        do {
            var i = 0
            while i < n {
                let count = Swift.min(4, n - i)
                // Row r of this four: (t, h) of item i + r; rows past `count` repeat row 0 (same inputs, same outputs).
                @inline(__always) func item(_ r: Int) -> (q: UnsafePointer<Float>, o: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>, pos: Int) {
                    let e = i + (r < count ? r : 0), t = tokens.lowerBound + e / headRange.count, h = headRange.lowerBound + e % headRange.count
                    return (q + (t * nh + h) * hs, out + (t * nh + h) * hs, rows + (r < count ? r : 0) * rowStride, Int(positions[t]))
                }
                let a = item(0), b = item(1), c = item(2), d = item(3)
                let (first, la) = s.visible(a.pos), lb = s.visible(b.pos), lc = s.visible(c.pos), ld = s.visible(d.pos)
                if s.softCap > 0 || hs % (4 * Vec.scalarCount) != 0 || lb.first != first || lc.first != first || ld.first != first
                    || Swift.min(la, lb.last, lc.last, ld.last) < first {
                    attendRow(a.q, a.pos, kh, kCache, vCache, a.o, a.row, s, partials)
                    if count > 1 { attendRow(b.q, b.pos, kh, kCache, vCache, b.o, b.row, s, partials) }
                    if count > 2 { attendRow(c.q, c.pos, kh, kCache, vCache, c.o, c.row, s, partials) }
                    if count > 3 { attendRow(d.q, d.pos, kh, kCache, vCache, d.o, d.row, s, partials) }
                    i += count
                    continue
                }
                // The joint passes for rows a…d, of which the first `real` (2, 3 or 4) are real: the padding rows —
                // aliases of a — are skipped instead of computed (decode of two or three heads per K/V head).
                @inline(__always) func joint(_ real: Int) {
                    let lasts = (la, lb.last, lc.last, ld.last), common = Swift.min(la, lb.last, lc.last, ld.last)
                    let top = Swift.max(la, lb.last, lc.last, ld.last), ahead = AttentionShape.ahead
                    for j in first..<Swift.min(first + ahead, top + 1) { prefetchRows(kCache, vCache, j, kh, s) }
                    // Scores over the positions all four see, each K row read once; then each row's own remainder.
                    var m = (-Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity)
                    var j0 = first
#if SKE_VNNI
                    let partials = partials!, sv = Vec(repeating: s.scale)
                    while j0 + 16 <= common + 1 {
                        for p in 0..<16 {
                            let j = j0 + p
                            if j + ahead <= top { prefetchRows(kCache, vCache, j + ahead, kh, s) }
                            (partials[p], partials[16 + p], partials[32 + p], partials[48 + p]) =
                                dotVectors4(a.q, b.q, c.q, d.q, kCache + s.offset(j, kh), hs, real)
                        }
                        store(sums16(partials) * sv, a.row + j0); store(sums16(partials + 16) * sv, b.row + j0)
                        if real > 2 { store(sums16(partials + 32) * sv, c.row + j0) }
                        if real > 3 { store(sums16(partials + 48) * sv, d.row + j0) }
                        for j in j0..<(j0 + 16) {
                            m.0 = Swift.max(m.0, a.row[j]); m.1 = Swift.max(m.1, b.row[j])
                            m.2 = Swift.max(m.2, c.row[j]); m.3 = Swift.max(m.3, d.row[j])
                        }
                        j0 += 16
                    }
                    // The positions left before `common` go one at a time (and jointly) unless some row takes one more
                    // sixteen-position group, which the row-by-row remainder below then does.
                    let together = top + 1 < j0 + 16
#else
                    let together = true
#endif
                    while together && j0 <= common {
                        if j0 + ahead <= top { prefetchRows(kCache, vCache, j0 + ahead, kh, s) }
                        let (x0, x1, x2, x3) = dotVectors4(a.q, b.q, c.q, d.q, kCache + s.offset(j0, kh), hs, real)
                        a.row[j0] = x0.sum() * s.scale; b.row[j0] = x1.sum() * s.scale
                        if real > 2 { c.row[j0] = x2.sum() * s.scale }
                        if real > 3 { d.row[j0] = x3.sum() * s.scale }
                        m.0 = Swift.max(m.0, a.row[j0]); m.1 = Swift.max(m.1, b.row[j0])
                        m.2 = Swift.max(m.2, c.row[j0]); m.3 = Swift.max(m.3, d.row[j0])
                        j0 += 1
                    }
                    scores(a.q, kh, kCache, vCache, from: j0, through: lasts.0, a.row, &m.0, s, partials)
                    if count > 1 { scores(b.q, kh, kCache, vCache, from: j0, through: lasts.1, b.row, &m.1, s, partials) }
                    if count > 2 { scores(c.q, kh, kCache, vCache, from: j0, through: lasts.2, c.row, &m.2, s, partials) }
                    if count > 3 { scores(d.q, kh, kCache, vCache, from: j0, through: lasts.3, d.row, &m.3, s, partials) }
                    probabilities(a.row, first, lasts.0, m.0, C.self)
                    if count > 1 { probabilities(b.row, first, lasts.1, m.1, C.self) }
                    if count > 2 { probabilities(c.row, first, lasts.2, m.2, C.self) }
                    if count > 3 { probabilities(d.row, first, lasts.3, m.3, C.self) }
                    // Weighted sums of V: the positions all four see with each V row read once, then each row's own.
                    let v = vCache + kh * s.headStride, vs = s.rowStride
                    // Rows past `count` alias row 0: zeroed with it; a padding row the kernels do not skip (b when
                    // count is 1) stores what row 0 stores.
                    for e in 0..<hs { a.o[e] = 0; b.o[e] = 0; c.o[e] = 0; d.o[e] = 0 }
                    weightedSum4(a.row, b.row, c.row, d.row, first...common, v, vs, a.o, b.o, c.o, d.o, hs, real)
                    if lasts.0 > common { weightedSum(a.row, (common + 1)...lasts.0, v, vs, a.o, hs) }
                    if count > 1 && lasts.1 > common { weightedSum(b.row, (common + 1)...lasts.1, v, vs, b.o, hs) }
                    if count > 2 && lasts.2 > common { weightedSum(c.row, (common + 1)...lasts.2, v, vs, c.o, hs) }
                    if count > 3 && lasts.3 > common { weightedSum(d.row, (common + 1)...lasts.3, v, vs, d.o, hs) }
                }
                if count > 3 { joint(4) } else if count == 3 { joint(3) } else { joint(2) }
                i += count
            }
        }
    }

    /// `dotVector` of four rows against one b (n a multiple of 4·w): b's vectors loaded and widened once for all four
    /// (`real` < 4: rows past the first `real` are skipped; their results are then zeros).
    @inline(__always)
    static func dotVectors4<C: KVScalar>(_ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a2: UnsafePointer<Float>, _ a3: UnsafePointer<Float>,
                                         _ b: UnsafePointer<C>, _ n: Int, _ real: Int = 4) -> (Vec, Vec, Vec, Vec) {
        let w = Vec.scalarCount
        var s00 = Vec(), s01 = Vec(), s02 = Vec(), s03 = Vec(), s10 = Vec(), s11 = Vec(), s12 = Vec(), s13 = Vec()
        var s20 = Vec(), s21 = Vec(), s22 = Vec(), s23 = Vec(), s30 = Vec(), s31 = Vec(), s32 = Vec(), s33 = Vec()
        var i = 0
        while i + 4 * w <= n {
            let b0 = C.vector(b + i), b1 = C.vector(b + i + w), b2 = C.vector(b + i + 2 * w), b3 = C.vector(b + i + 3 * w)
            s00.addProduct(load(a0 + i), b0); s01.addProduct(load(a0 + i + w), b1); s02.addProduct(load(a0 + i + 2 * w), b2); s03.addProduct(load(a0 + i + 3 * w), b3)
            s10.addProduct(load(a1 + i), b0); s11.addProduct(load(a1 + i + w), b1); s12.addProduct(load(a1 + i + 2 * w), b2); s13.addProduct(load(a1 + i + 3 * w), b3)
            if real > 2 { s20.addProduct(load(a2 + i), b0); s21.addProduct(load(a2 + i + w), b1); s22.addProduct(load(a2 + i + 2 * w), b2); s23.addProduct(load(a2 + i + 3 * w), b3) }
            if real > 3 { s30.addProduct(load(a3 + i), b0); s31.addProduct(load(a3 + i + w), b1); s32.addProduct(load(a3 + i + 2 * w), b2); s33.addProduct(load(a3 + i + 3 * w), b3) }
            i += 4 * w
        }
        return ((s00 + s01) + (s02 + s03), (s10 + s11) + (s12 + s13), (s20 + s21) + (s22 + s23), (s30 + s31) + (s32 + s33))
    }

    /// `weightedSum` of four probability rows into four outputs over one js (n a multiple of 4·w): each V row loaded and
    /// widened once for all four; per output lane the same fused multiply-adds in the same order (j ascending).
    /// `real` < 4: the rows past the first `real` are skipped (their outputs untouched).
    @inline(__always)
    static func weightedSum4<C: KVScalar>(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>, _ p3: UnsafePointer<Float>,
                                          _ js: ClosedRange<Int>, _ v: UnsafePointer<C>, _ stride: Int,
                                          _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>,
                                          _ o2: UnsafeMutablePointer<Float>, _ o3: UnsafeMutablePointer<Float>, _ n: Int, _ real: Int = 4) {
        let w = Vec.scalarCount
        var c = 0
        while c + 4 * w <= n {
            var a00 = load(o0 + c), a01 = load(o0 + c + w), a02 = load(o0 + c + 2 * w), a03 = load(o0 + c + 3 * w)
            var a10 = load(o1 + c), a11 = load(o1 + c + w), a12 = load(o1 + c + 2 * w), a13 = load(o1 + c + 3 * w)
            var a20 = load(o2 + c), a21 = load(o2 + c + w), a22 = load(o2 + c + 2 * w), a23 = load(o2 + c + 3 * w)
            var a30 = load(o3 + c), a31 = load(o3 + c + w), a32 = load(o3 + c + 2 * w), a33 = load(o3 + c + 3 * w)
            for j in js {
                let vj = v + j * stride + c
                let v0 = C.vector(vj), v1 = C.vector(vj + w), v2 = C.vector(vj + 2 * w), v3 = C.vector(vj + 3 * w)
                let x0 = Vec(repeating: p0[j]), x1 = Vec(repeating: p1[j]), x2 = Vec(repeating: p2[j]), x3 = Vec(repeating: p3[j])
                a00.addProduct(x0, v0); a01.addProduct(x0, v1); a02.addProduct(x0, v2); a03.addProduct(x0, v3)
                a10.addProduct(x1, v0); a11.addProduct(x1, v1); a12.addProduct(x1, v2); a13.addProduct(x1, v3)
                if real > 2 { a20.addProduct(x2, v0); a21.addProduct(x2, v1); a22.addProduct(x2, v2); a23.addProduct(x2, v3) }
                if real > 3 { a30.addProduct(x3, v0); a31.addProduct(x3, v1); a32.addProduct(x3, v2); a33.addProduct(x3, v3) }
            }
            store(a00, o0 + c); store(a01, o0 + c + w); store(a02, o0 + c + 2 * w); store(a03, o0 + c + 3 * w)
            store(a10, o1 + c); store(a11, o1 + c + w); store(a12, o1 + c + 2 * w); store(a13, o1 + c + 3 * w)
            if real > 2 { store(a20, o2 + c); store(a21, o2 + c + w); store(a22, o2 + c + 2 * w); store(a23, o2 + c + 3 * w) }
            if real > 3 { store(a30, o3 + c); store(a31, o3 + c + w); store(a32, o3 + c + 2 * w); store(a33, o3 + c + 3 * w) }
            c += 4 * w
        }
    }
}
#endif
