// llama.cpp's CPU arithmetic, op for op: the kernels ggml-cpu runs on an x86 AVX-512 (VNNI) machine at the
// commit of shared/reference (the llama-cpp-python 0.3.36 sdist), written as plain Swift in the same order of
// operations: the same lanes, the same horizontal sums, the same fused multiply-adds (including the ones GCC
// contracts from separate multiplies and adds), the same exp and GELU approximations. `LlamaCppReplica`
// (SKERuntime) composes them into a forward pass whose logits equal llama.cpp's bit for bit.
//
// Slow on purpose (scalar, per row): it is the reference for "does ske compute what llama.cpp computes", not a
// path for speed. The fast kernels keep their own orders (rows as lanes, exact integer super-block totals), which
// is why their logits sit within llama.cpp's own cross-ISA spread of its numbers rather than on them.
//
// Which ggml kernel runs depends on the weight type and the batch (ggml-cpu's dispatch):
//   Q4_1                 vec_dot (x86 AVX2 code; no repack, no tiled path)
//   Q8_0, Q5_0           vec_dot for one token, llamafile's tinyBLAS for more: the same per-element formula
//   Q4_K                 CPU_REPACK 8×8 (rows % 8 == 0; others are refused): gemm for the first T − T % 4 tokens, gemv for the rest
//   Q6_K                 the tiled K-quant matmul for T ≥ 8 tokens, vec_dot below
//   F16 × F16 (K·Q, V·P) tinyBLAS 16-lane for T ≥ 2 query tokens, ggml_vec_dot_f16 for one
import SKECore
#if canImport(Glibc)
import Glibc  // libm's powf, cosf, sinf, tanhf: the functions ggml calls
#endif

public enum GGMLOrder {
    public enum OrderError: Error, CustomStringConvertible, Equatable {
        case unsupportedWeight(String, GGMLType)
        public var description: String {
            switch self {
            case .unsupportedWeight(let n, let t):
                "llama.cpp-arithmetic replica: weight '\(n)' is \(t.name); it replicates Q4_1, Q5_0, Q8_0, Q4_K (rows a multiple of 8: the repacked kernels) and Q6_K linears"
            }
        }
    }

    // MARK: horizontal sums

    /// `_mm512_reduce_add_ps` as GCC expands it: halves, quarters, then (0+2)+(1+3).
    @inline(__always) public static func reduce16(_ a: SIMD16<Float>) -> Float {
        let h = a.highHalf + a.lowHalf, q = h.highHalf + h.lowHalf
        return (q[0] + q[2]) + (q[1] + q[3])
    }

    /// `hsum_float_8` (x86 quants.c) and tinyBLAS's 256-bit hsum: high + low 128, then (0+2)+(1+3).
    @inline(__always) public static func hsum8(_ a: SIMD8<Float>) -> Float {
        let q = a.highHalf + a.lowHalf
        return (q[0] + q[2]) + (q[1] + q[3])
    }

    // MARK: linear kernels (one weight row · one quantized activation row, ggml block bytes)

    /// The ggml kernel a linear of `type` runs for token `t` of a batch of `tokens`.
    public enum Path: Sendable { case vecDot, repackGemm, tiled }

    public static func path(_ type: GGMLType, tokens: Int, token t: Int) -> Path {
        switch type {
        case .q4_K: t < tokens - tokens % 4 ? .repackGemm : .vecDot  // the repacked gemv (its formula is `.vecDot`'s here)
        case .q6_K: tokens >= 8 ? .tiled : .vecDot
        default: .vecDot
        }
    }

    /// The activation format ggml quantizes a row to before it meets a `type` weight row (its `vec_dot_type`).
    public static func activationType(_ type: GGMLType) -> GGMLType? { linears[type]?.activation }

    /// Quantizes an activation row as ggml-cpu's `from_float` does on x86.
    public static func quantizeActivation(_ type: GGMLType, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        switch type {
        case .q8_1: QuantReference.quantizeActivationQ8_1(x, y, k)
        case .q8_0: QuantReference.quantizeActivationQ8_0(x, y, k)
        default: QuantReference.quantizeQ8_K(x, y, k)
        }
    }

    typealias Dot = @Sendable (_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int, _ path: Path) -> Float
    struct Linear: Sendable { let activation: GGMLType; let dot: Dot }
    /// One row per replicated weight type.
    static let linears: [GGMLType: Linear] = [
        .q4_1: Linear(activation: .q8_1) { w, a, k, _ in dotQ4_1(w, a, k) },
        .q5_0: Linear(activation: .q8_0) { w, a, k, _ in dotQ5_0(w, a, k) },
        .q8_0: Linear(activation: .q8_0) { w, a, k, _ in dotQ8_0(w, a, k) },
        .q4_K: Linear(activation: .q8_K) { w, a, k, p in dotQ4_K(w, a, k, perPair: p == .repackGemm) },
        .q6_K: Linear(activation: .q8_K) { w, a, k, p in p == .tiled ? dotQ6_KTiled(w, a, k) : dotQ6_K(w, a, k) },
    ]

    /// Whether a `rows`-row weight of `type` has a replicated kernel (Q4_K only repacked: ggml leaves rows % 8 ≠ 0
    /// to its vec_dot and tiled paths, which this file does not replicate for Q4_K).
    public static func supports(_ type: GGMLType, rows: Int) -> Bool { linears[type] != nil && (type != .q4_K || rows % 8 == 0) }

    /// y[r] = row r of `w` (`rows` × `k`, ggml blocks) · the activation row `a` (already in `activationType`).
    public static func dot(_ type: GGMLType, path: Path, w: UnsafeRawPointer, a: UnsafeRawPointer, k: Int) -> Float {
        linears[type]!.dot(w, a, k, path)
    }

    /// Eight lanes, lane l holding the integer sum of elements 4l…4l+3 of a 32-block: `mul_sum_us8_pairs_float` /
    /// `mul_sum_i8_pairs_float` (and tinyBLAS's `updot`) on the block's codes in element order.
    @inline(__always) static func lanes32(_ code: (Int) -> Int32, _ a: UnsafeRawPointer) -> SIMD8<Float> {
        var lanes = SIMD8<Float>()
        for l in 0..<8 {
            var s: Int32 = 0
            for e in (4 * l)..<(4 * l + 4) { s += code(e) * Int32(a.i8(e)) }
            lanes[l] = Float(s)
        }
        return lanes
    }

    /// `ggml_vec_dot_q4_1_q8_1`: acc += (dW·dA) · lanes (FMA), Σ mW·sA in a scalar (GCC keeps it unfused), hsum + Σ.
    static func dotQ4_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = SIMD8<Float>(), summs: Float = 0
        for b in 0..<(k / 32) {
            let x = w + 20 * b, y = a + 36 * b
            summs += x.f16(2) * y.f16(2)
            let lanes = lanes32({ e in Int32(e < 16 ? x.u8(4 + e) & 0xF : x.u8(4 + e - 16) >> 4) }, y + 4)
            acc = acc.addingProduct(SIMD8(repeating: x.f16(0) * y.f16(0)), lanes)
        }
        return hsum8(acc) + summs
    }

    /// `ggml_vec_dot_q5_0_q8_0` and tinyBLAS Q5_0: codes q − 16 (5 bits: nibble + qh bit).
    static func dotQ5_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = SIMD8<Float>()
        for b in 0..<(k / 32) {
            let x = w + 22 * b, y = a + 34 * b, qh = x.u32(2)
            let lanes = lanes32({ e in
                let nib = Int32(e < 16 ? x.u8(6 + e) & 0xF : x.u8(6 + e - 16) >> 4)
                return (nib | Int32((qh >> UInt32(e)) & 1) << 4) - 16
            }, y + 2)
            acc = acc.addingProduct(SIMD8(repeating: x.f16(0) * y.f16(0)), lanes)
        }
        return hsum8(acc)
    }

    /// `ggml_vec_dot_q8_0_q8_0` and tinyBLAS Q8_0.
    static func dotQ8_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = SIMD8<Float>()
        for b in 0..<(k / 32) {
            let x = w + 34 * b, y = a + 34 * b
            let lanes = lanes32({ e in Int32(x.i8(2 + e)) }, y + 2)
            acc = acc.addingProduct(SIMD8(repeating: x.f16(0) * y.f16(0)), lanes)
        }
        return hsum8(acc)
    }

    /// Q4_K · Q8_K through the CPU_REPACK 8×8 kernels. The gemv: per super-block exact integer totals,
    /// acc += Σsc·dot · (dW·dA) and accMin += Σm·bsum · (dminW·dA), both FMA, result acc − accMin. The gemm
    /// (`perPair`) does the same per pair of sub-blocks.
    static func dotQ4_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int, perPair: Bool) -> Float {
        var acc: Float = 0, accMin: Float = 0
        for b in 0..<(k / 256) {
            let x = w + 144 * b, y = a + 292 * b
            let d = x.f16(0), dmin = x.f16(2), da = Float(bitPattern: y.u32(0))
            var isum: Int32 = 0, imin: Int32 = 0
            for j in 0..<8 {
                let (scaled, min) = QuantReference.q4KSubBlock(x, y, j)
                isum += scaled
                imin += min
                if perPair && j % 2 == 1 {
                    acc = acc.addingProduct(Float(isum), d * da)
                    accMin = accMin.addingProduct(Float(imin), dmin * da)
                    isum = 0; imin = 0
                }
            }
            if perPair { continue }
            acc = acc.addingProduct(Float(isum), d * da)
            accMin = accMin.addingProduct(Float(imin), dmin * da)
        }
        return acc - accMin
    }

    @inline(__always) static func i16(_ p: UnsafeRawPointer, _ offset: Int) -> Int32 {
        Int32(Int16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
    }

    /// The 256 unsigned 6-bit codes of a Q6_K block (the −32 offset not applied), in element order.
    @inline(__always) static func q6Codes(_ x: UnsafeRawPointer, _ out: UnsafeMutablePointer<UInt8>) {
        for half in 0..<2 {
            let ql = x + 64 * half, qh = x + 128 + 32 * half, o = out + 128 * half
            for l in 0..<32 {
                let h = qh.u8(l)
                o[l] = ql.u8(l) & 0xF | (h & 3) << 4
                o[l + 32] = ql.u8(l + 32) & 0xF | (h >> 2 & 3) << 4
                o[l + 64] = ql.u8(l) >> 4 | (h >> 4 & 3) << 4
                o[l + 96] = ql.u8(l + 32) >> 4 | (h >> 6 & 3) << 4
            }
        }
    }

    /// `ggml_vec_dot_q6_K_q8_K` (AVX2): per super-block eight int lanes — lane l sums sc·q·a over elements 4l…4l+3
    /// of every 32-element group, minus 32·(sc·bsum) of sub-blocks 2l and 2l+1 — then acc += (dA·dW) · lanes (FMA), hsum.
    static func dotQ6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { codes in
            var acc = SIMD8<Float>()
            for b in 0..<(k / 256) {
                let x = w + 210 * b, y = a + 292 * b
                q6Codes(x, codes.baseAddress!)
                var lanes = SIMD8<Int32>()
                for e in 0..<256 { lanes[(e % 32) / 4] += Int32(x.i8(192 + e / 16)) * Int32(codes[e]) * Int32(y.i8(4 + e)) }
                for l in 0..<8 {
                    let s0 = Int32(x.i8(192 + 2 * l)) * i16(y, 260 + 4 * l)
                    let s1 = Int32(x.i8(193 + 2 * l)) * i16(y, 262 + 4 * l)
                    lanes[l] -= 32 * (s0 + s1)
                }
                acc = acc.addingProduct(SIMD8(repeating: Float(bitPattern: y.u32(0)) * x.f16(208)), SIMD8<Float>(lanes))
            }
            return hsum8(acc)
        }
    }

    /// The tiled K-quant matmul's Q6_K (AVX-512 VNNI microkernel): s1 = Σ_sub sc·(Σq·a − 32·bsum) exact, then
    /// acc += (s1 · dW) · dA (GCC fuses the add with the second product).
    static func dotQ6_KTiled(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { codes in
            var acc: Float = 0
            for b in 0..<(k / 256) {
                let x = w + 210 * b, y = a + 292 * b
                q6Codes(x, codes.baseAddress!)
                var s1: Int32 = 0
                for s in 0..<16 {
                    var raw: Int32 = 0
                    for e in (16 * s)..<(16 * s + 16) { raw += Int32(codes[e]) * Int32(y.i8(4 + e)) }
                    s1 += Int32(x.i8(192 + s)) * (raw - 32 * i16(y, 260 + 2 * s))
                }
                acc = acc.addingProduct(Float(s1) * x.f16(208), Float(bitPattern: y.u32(0)))
            }
            return acc
        }
    }

    // MARK: attention's f16 dots

    /// tinyBLAS f16 (T ≥ 2): one 16-lane accumulator, lane u takes elements u, u+16, …; `reduce16`.
    @inline(__always) public static func dotF16Tiled(_ x: UnsafePointer<Float16>, _ y: UnsafePointer<Float16>, _ n: Int) -> Float {
        var acc = SIMD16<Float>()
        for l in stride(from: 0, to: n, by: 16) { acc = acc.addingProduct(widen16(x + l), widen16(y + l)) }
        return reduce16(acc)
    }

    /// `ggml_vec_dot_f16` (T = 1): four 16-lane accumulators over steps of 64, (0+2)+(1+3) lane-wise, `reduce16`;
    /// a tail past the last 64 summed in double.
    @inline(__always) public static func dotF16(_ x: UnsafePointer<Float16>, _ y: UnsafePointer<Float16>, _ n: Int) -> Float {
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        let np = n & ~63
        for i in stride(from: 0, to: np, by: 64) {
            s0 = s0.addingProduct(widen16(x + i), widen16(y + i))
            s1 = s1.addingProduct(widen16(x + i + 16), widen16(y + i + 16))
            s2 = s2.addingProduct(widen16(x + i + 32), widen16(y + i + 32))
            s3 = s3.addingProduct(widen16(x + i + 48), widen16(y + i + 48))
        }
        var sum = Double(reduce16((s0 + s2) + (s1 + s3)))
        for i in np..<n { sum += Double(Float(x[i]) * Float(y[i])) }
        return Float(sum)
    }

    @inline(__always) static func widen16(_ p: UnsafePointer<Float16>) -> SIMD16<Float> {
        var v = SIMD16<Float>()
        for u in 0..<16 { v[u] = Float(p[u]) }
        return v
    }

    // MARK: float ops

    /// `ggml_v_expf` (AVX-512): 2^n · polynomial, n = round(x·log2 e) through the 1.5·2^23 trick; |n| > 192 → 0 or ∞.
    @inline(__always) public static func expf(_ x: Float) -> Float {
        let r: Float = 0x1.8p23
        let n = r.addingProduct(x, 0x1.715476p+0) - r
        let b = x.addingProduct(-n, 0x1.62e4p-1).addingProduct(-n, 0x1.7f7d1cp-20)
        guard abs(n) <= 192 else { return n <= 0 ? 0 : .infinity }
        let u = b * b
        let p = Float(1).addingProduct(0x1.ffffecp-1, b)
            .addingProduct(Float(0x1.fffdb6p-2).addingProduct(0x1.555e66p-3, b)
                .addingProduct(Float(0x1.573e2ep-5).addingProduct(0x1.0e4020p-7, b), u), u)
        return Float(sign: .plus, exponent: Int(n), significand: p)
    }

    /// `ggml_v_silu`: x / (1 + e^(0 − x)).
    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + expf(0 - x)) }

    /// `ggml_vec_geglu_f32`: 0 below −10, x·g above 10, else GeluTable[f16(x)]·g (ggml's table, see GeluTable).
    @inline(__always) public static func geglu(_ x: Float, _ g: Float) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x * g }
        return GeluTable.values[Int(f32ToF16(x))] * g
    }

    /// `ggml_compute_forward_rms_norm_f32` then the weight's `mul`: Σx² of float squares in double, mean as float,
    /// 1/√(mean + eps), y = (x · scale) · w.
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i] * x[i]) }
        let mean = Float(sum / Double(n))
        let scale = 1 / (mean + eps).squareRoot()
        for i in 0..<n { y[i] = x[i] * scale * w[i] }
    }

    /// `ggml_rope_cache_init`: (cos, sin) of θ = p·freqScale·base^(−2i/dims), θ stepped by repeated multiplication.
    public static func ropeCache(position p: Int, dims: Int, base: Float, freqScale: Float) -> [(cos: Float, sin: Float)] {
        let thetaScale = powf(base, -2 / Float(dims))
        var theta = Float(p)
        return (0..<(dims / 2)).map { _ in
            defer { theta *= thetaScale }
            let t = freqScale * theta
            return (cosf(t), sinf(t))
        }
    }

    /// `rotate_pairs` as GCC compiles it: x0' = x0·c − (x1·s), x1' = x0·s + (x1·c), each with the first product fused.
    @inline(__always) public static func rotate(_ x0: inout Float, _ x1: inout Float, _ cs: (cos: Float, sin: Float)) {
        let a = (-(x1 * cs.sin)).addingProduct(x0, cs.cos), b = (x1 * cs.cos).addingProduct(x0, cs.sin)
        x0 = a; x1 = b
    }

    /// `ggml_compute_forward_soft_max_f32` over one row of `n` (a multiple of 16) scores with a 0/−∞ mask:
    /// w = x·scale + mask, max, e = expf(w − max) per 16 with each `reduce16` added in double, p = e · f32(1/Σ).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, allowed: (Int) -> Bool) {
        var mx = -Float.infinity
        for i in 0..<n {
            x[i] = allowed(i) ? x[i] * scale : -.infinity
            mx = max(mx, x[i])
        }
        var sum: Double = 0
        for b in stride(from: 0, to: n, by: 16) {
            var e = SIMD16<Float>()
            for u in 0..<16 { e[u] = expf(x[b + u] - mx); x[b + u] = e[u] }
            sum += Double(reduce16(e))
        }
        let inv = Float(1 / sum)
        for i in 0..<n { x[i] *= inv }
    }
}
