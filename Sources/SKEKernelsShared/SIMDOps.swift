// SIMD versions of the float ops on the decode path (written once, compiled into SKEKernelsAVX2 with
// SIMD8<Float> and into SKEKernelsAVX512 with SIMD16<Float>; see SGEMM.swift for `Vec`).
//   rmsNorm  x [N, C], w [C] → y [N, C]         (x·rstd)·w, as the reference
//   softmax  x [N, C] → y [N, C]                 exp via the reference's own libm call per element
//   dot / axpy                                   the inner loops of attention over a KV cache
//   attentionDecode  q [T, NH, HS], K/V cache [TK, NKV, HS] → out [T, NH, HS], one score row at a time
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
                                       headRange: Range<Int>) {
        if half {
            attend(q: q, positions: positions, tokens: t, kCache: kCache.assumingMemoryBound(to: Float16.self), vCache: vCache.assumingMemoryBound(to: Float16.self),
                   cacheLength: tk, out: out, row: row, heads: nh, kvHeads: nkv, headSize: hs, scale: scale, window: window, softCap: softCap,
                   headRange: headRange)
        } else {
            attend(q: q, positions: positions, tokens: t, kCache: kCache.assumingMemoryBound(to: Float.self), vCache: vCache.assumingMemoryBound(to: Float.self),
                   cacheLength: tk, out: out, row: row, heads: nh, kvHeads: nkv, headSize: hs, scale: scale, window: window, softCap: softCap,
                   headRange: headRange)
        }
    }

    @inline(__always)
    static func attend<C: KVScalar>(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens t: Int,
                                       kCache: UnsafePointer<C>, vCache: UnsafePointer<C>, cacheLength tk: Int,
                                       out: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>,
                                       heads nh: Int, kvHeads nkv: Int, headSize hs: Int, scale: Float, window: Int, softCap: Float,
                                       headRange: Range<Int>) {
        let group = nh / nkv
#if SKE_VNNI
        withUnsafeTemporaryAllocation(of: Vec.self, capacity: 16) { buffer in
            attendRows(q: q, positions: positions, tokens: t, kCache: kCache, vCache: vCache, cacheLength: tk, out: out, row: row,
                       heads: nh, kvHeads: nkv, headSize: hs, scale: scale, window: window, softCap: softCap, headRange: headRange,
                       group: group, partials: buffer.baseAddress!)
        }
#else
        attendRows(q: q, positions: positions, tokens: t, kCache: kCache, vCache: vCache, cacheLength: tk, out: out, row: row,
                   heads: nh, kvHeads: nkv, headSize: hs, scale: scale, window: window, softCap: softCap, headRange: headRange,
                   group: group, partials: nil)
#endif
    }

    @inline(__always)
    static func attendRows<C: KVScalar>(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens t: Int,
                                        kCache: UnsafePointer<C>, vCache: UnsafePointer<C>, cacheLength tk: Int,
                                        out: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>,
                                        heads nh: Int, kvHeads nkv: Int, headSize hs: Int, scale: Float, window: Int, softCap: Float,
                                        headRange: Range<Int>, group: Int, partials: UnsafeMutablePointer<Vec>?) {
#if SKE_VNNI
        let partials = partials!
#endif
        for i in 0..<t {
            let pos = Int(positions[i])
            let first = window > 0 ? Swift.max(0, pos - window + 1) : 0, last = Swift.min(tk - 1, pos)
            for h in headRange {
                let kh = h / group, qi = q + (i * nh + h) * hs, o = out + (i * nh + h) * hs
                for d in 0..<hs { o[d] = 0 }
                guard first <= last else { continue }
                // The cache rows of one head sit nkv·hs values apart, a stride the hardware prefetcher picks up
                // late: each K row was a cache miss. Prefetch K and V rows `ahead` positions in advance.
                let ahead = 8, rowBytes = hs * MemoryLayout<C>.stride
                @inline(__always) func prefetchRows(_ j: Int) {
                    let k = UnsafeRawPointer(kCache + (j * nkv + kh) * hs), v = UnsafeRawPointer(vCache + (j * nkv + kh) * hs)
                    var l = 0
                    while l < rowBytes { prefetch(k + l); prefetch(v + l); l += 64 }
                }
                for j in first..<Swift.min(first + ahead, last + 1) { prefetchRows(j) }
                var m = -Float.infinity
                var j0 = first
#if SKE_VNNI
                // Sixteen positions at a time: `dot`'s vector part per position, then the sixteen horizontal sums
                // (SIMD.sum() adds lanes 0…15 in order) as lanes of one vector — a transpose and 15 vector adds
                // instead of ~50 instructions per position. Same values bit for bit.
                if hs % (4 * Vec.scalarCount) == 0 {
                    while j0 + 16 <= last + 1 {
                        for p in 0..<16 {
                            let j = j0 + p
                            if j + ahead <= last { prefetchRows(j + ahead) }
                            partials[p] = dotVector(qi, kCache + (j * nkv + kh) * hs, hs)
                        }
                        let s = sums16(partials) * Vec(repeating: scale)
                        store(s, row + j0)
                        if softCap > 0 { for j in j0..<(j0 + 16) { row[j] = softCap * tanhf(row[j] / softCap) } }
                        for j in j0..<(j0 + 16) { m = Swift.max(m, row[j]) }
                        j0 += 16
                    }
                }
#endif
                for j in j0..<(last + 1) {
                    if j + ahead <= last { prefetchRows(j + ahead) }
                    var s = dot(qi, kCache + (j * nkv + kh) * hs, hs) * scale
                    if softCap > 0 { s = softCap * tanhf(s / softCap) }
                    row[j] = s
                    m = Swift.max(m, s)
                }
                let sum = expShiftedSum(row, row, first...last, m)
                let inv = 1 / sum
                if C.self == Float16.self {
                    // llama.cpp's arithmetic: probabilities meet the f16 V cache as f16.
                    for j in first...last { row[j] = Float(Float16(row[j] * inv)) }
                } else {
                    for j in first...last { row[j] *= inv }
                }
                weightedSum(row, first...last, vCache + kh * hs, nkv * hs, o, hs)
            }
        }
    }
}
#endif
