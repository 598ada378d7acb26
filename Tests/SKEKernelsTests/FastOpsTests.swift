import Testing
import Foundation
@testable import SKEKernels
import SKECore
#if canImport(Glibc)
import Glibc
#endif
#if arch(x86_64)
@testable import SKEKernelsAVX512
#endif

@Suite("SIMD float ops equal the reference")
struct FastOpsTests {
    static func close(_ a: [Float], _ b: [Float], _ what: String, tol: Float = 1e-5) {
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= tol, "\(what): worst \(worst)")
    }

    @Test("RMSNorm and softmax, odd sizes, every ISA path", arguments: [(1, 1), (3, 7), (2, 31), (4, 257), (1, 576)])
    func normAndSoftmax(_ s: (Int, Int)) {
        let (n, c) = s
        var rng = SeededRandom(seed: UInt64(n * 1000 + c))
        let x = (0..<(n * c)).map { _ in rng.normal() * 3 }, w = (0..<c).map { _ in rng.normal() }
        var refN = [Float](repeating: 0, count: n * c), refS = refN
        Norm.rmsNormForward(x: x, weight: w, y: &refN, rstd: nil, rows: n, cols: c, eps: 1e-6)
        Softmax.forward(x, &refS, rows: n, cols: c)
        for level in isaLevels {
            var y = [Float](repeating: .nan, count: n * c), z = y
            FastOps.rmsNorm(x: x, weight: w, y: &y, rows: n, cols: c, eps: 1e-6, level: level)
            FastOps.softmax(x, &z, rows: n, cols: c, level: level)
            Self.close(y, refN, "rmsnorm \(level) \(s)"); Self.close(z, refS, "softmax \(level) \(s)")
        }
    }

    static let attn: [AttentionParameters] = [
        AttentionParameters(heads: 4, kvHeads: 1, headSize: 256, window: 5),
        AttentionParameters(heads: 9, kvHeads: 3, headSize: 64),
        AttentionParameters(heads: 2, kvHeads: 2, headSize: 7, softCap: 30),
    ]

    @Test("decode attention over a cache, every ISA path", arguments: attn)
    func decode(_ p: AttentionParameters) {
        let tk = 11, t = 3
        var rng = SeededRandom(seed: 5)
        let q = (0..<(t * p.heads * p.headSize)).map { _ in rng.normal() }
        let k = (0..<(tk * p.kvHeads * p.headSize)).map { _ in rng.normal() }, v = (0..<(tk * p.kvHeads * p.headSize)).map { _ in rng.normal() }
        let pos: [Int32] = [8, 9, 10]
        var row = [Float](repeating: 0, count: tk)
        // The reference over an f32 cache and over an f16 one (llama.cpp's default), then every ISA path against each.
        let kh = k.map { Float16($0) }, vh = v.map { Float16($0) }
        var ref = [Float](repeating: 0, count: q.count), refHalf = ref, refWidened = ref
        Attention.decode(q: q, positions: pos, tokens: t, kCache: k, vCache: v, cacheLength: tk, out: &ref, row: &row, p)
        Attention.decode(q: q, positions: pos, tokens: t, kCache: kh, vCache: vh, cacheLength: tk, out: &refHalf, row: &row, p)
        // An f16 cache = the same values widened, except that probabilities meet V rounded to f16 (as in llama.cpp).
        Attention.decode(q: q, positions: pos, tokens: t, kCache: kh.map(Float.init), vCache: vh.map(Float.init), cacheLength: tk, out: &refWidened, row: &row, p)
        let probabilityRounding = zip(refHalf, refWidened).map { abs($0 - $1) }.max()!
        #expect(probabilityRounding > 0 && probabilityRounding <= 1e-3 * v.map(abs).max()!)
        for (half, expected) in [(false, ref), (true, refHalf)] {
            for level in isaLevels {
                var out = [Float](repeating: .nan, count: q.count)
                let run = { (kb: UnsafeRawBufferPointer, vb: UnsafeRawBufferPointer) in
                    FastOps.attentionDecode(q: q, positions: pos, tokens: t, kCache: kb.baseAddress!, vCache: vb.baseAddress!, half: half, cacheLength: tk,
                                            out: &out, row: &row, p, level: level)
                }
                if half { kh.withUnsafeBytes { kb in vh.withUnsafeBytes { vb in run(kb, vb) } } } else { k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in run(kb, vb) } } }
                Self.close(out, expected, "\(half ? "f16" : "f32") attention \(level)")
            }
        }
    }

    static let groups: [AttentionParameters] = [
        AttentionParameters(heads: 16, kvHeads: 8, headSize: 128),          // Qwen3-shaped: groups of 2
        AttentionParameters(heads: 9, kvHeads: 3, headSize: 64),            // SmolLM2: groups of 3
        AttentionParameters(heads: 4, kvHeads: 1, headSize: 256, window: 21), // Gemma 3: one K/V head, a sliding window
        AttentionParameters(heads: 3, kvHeads: 3, headSize: 64, window: 40),
        AttentionParameters(heads: 2, kvHeads: 2, headSize: 7, softCap: 30), // no four-row path: row by row
    ]

    /// The executor's attention takes four query rows per pass over K and V; each row must equal attentionDecode's bit for
    /// bit (KV-cache decode == full recompute rests on it). Items as the executor deals them (a multiple of four rows
    /// of one K/V head, the last one short), 37 tokens after 6 cached positions: sixteen-position groups, rows whose
    /// visible ranges end apart, windows that start apart; the cache position-major and head-major (the executor's).
    @Test("attention four rows per pass (prefill and decode) == attention row by row, bit for bit, every ISA path and cache layout", arguments: groups)
    func group(_ p: AttentionParameters) {
        let start = 6, t = 37, tk = start + t, hs = p.headSize, group = p.heads / p.kvHeads
        var rng = SeededRandom(seed: UInt64(p.heads * 100 + hs))
        let q = (0..<(t * p.heads * hs)).map { _ in Float(Float16(rng.normal())) }
        let k = (0..<(tk * p.kvHeads * hs)).map { _ in rng.normal() }, v = (0..<(tk * p.kvHeads * hs)).map { _ in rng.normal() }
        let kh = k.map { Float16($0) }, vh = v.map { Float16($0) }
        let pos = (0..<t).map { Int32(start + $0) }
        let block = [1: 4, 2: 2, 3: 4, 4: 1][group]!
        for level in isaLevels {
            for half in [false, true] {
                var expected = [Float](repeating: .nan, count: q.count), got = expected
                var row = [Float](repeating: 0, count: tk), rows = [Float](repeating: 0, count: FastOps.attentionGroupScratchFloats(rowStride: tk + 3))
                let run = { (kb: UnsafeRawBufferPointer, vb: UnsafeRawBufferPointer) in
                    q.withUnsafeBufferPointer { qb in pos.withUnsafeBufferPointer { pb in expected.withUnsafeMutableBufferPointer { eb in
                        for i in 0..<t {
                            FastOps.attentionDecode(q: qb.baseAddress! + i * p.heads * hs, positions: pb.baseAddress! + i, tokens: 1,
                                                    kCache: kb.baseAddress!, vCache: vb.baseAddress!, half: half, cacheLength: tk,
                                                    out: eb.baseAddress! + i * p.heads * hs, row: &row, p, level: level)
                        }
                    } } }
                    for t0 in stride(from: 0, to: t, by: block) {
                        for g in 0..<p.kvHeads {
                            FastOps.attentionGroup(q: q, positions: pos, tokens: t0..<min(t, t0 + block), heads: (g * group)..<(g * group + group),
                                                   kCache: kb.baseAddress!, vCache: vb.baseAddress!, half: half, cacheLength: tk,
                                                   out: &got, rows: &rows, rowStride: tk + 3, p, level: level)
                        }
                    }
                }
                if half { kh.withUnsafeBytes { kb in vh.withUnsafeBytes { vb in run(kb, vb) } } } else { k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in run(kb, vb) } } }
                let same = zip(got, expected).allSatisfy { $0.bitPattern == $1.bitPattern }
                #expect(same, "\(half ? "f16" : "f32") \(level): max |Δ| \(zip(got, expected).map { abs($0 - $1) }.max()!)")
                // The executor's head-major cache [NKV, CTX, HS] (CTX > TK): the same values, the same results.
                let ctx = tk + 5, layout = KVLayout.headMajor(p, context: ctx)
                func headMajor<C: BinaryFloatingPoint>(_ c: [C]) -> [C] {
                    var out = [C](repeating: 0, count: p.kvHeads * ctx * hs)
                    for j in 0..<tk { for g in 0..<p.kvHeads { for e in 0..<hs { out[j * layout.rowStride + g * layout.headStride + e] = c[(j * p.kvHeads + g) * hs + e] } } }
                    return out
                }
                var heads = [Float](repeating: .nan, count: q.count)
                let runHeadMajor = { (kb: UnsafeRawBufferPointer, vb: UnsafeRawBufferPointer) in
                    for t0 in stride(from: 0, to: t, by: block) {
                        for g in 0..<p.kvHeads {
                            FastOps.attentionGroup(q: q, positions: pos, tokens: t0..<min(t, t0 + block), heads: (g * group)..<(g * group + group),
                                                   kCache: kb.baseAddress!, vCache: vb.baseAddress!, half: half, cacheLength: tk,
                                                   out: &heads, rows: &rows, rowStride: tk + 3, p, layout: layout, level: level)
                        }
                    }
                }
                if half { headMajor(kh).withUnsafeBytes { kb in headMajor(vh).withUnsafeBytes { vb in runHeadMajor(kb, vb) } } }
                else { headMajor(k).withUnsafeBytes { kb in headMajor(v).withUnsafeBytes { vb in runHeadMajor(kb, vb) } } }
                #expect(zip(heads, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "head-major \(half ? "f16" : "f32") \(level)")
                // Decode's items: one token, a K/V head's heads split in two (two threads, fewer K/V heads than threads).
                var decode = [Float](repeating: .nan, count: q.count)
                let chunk = (group + 1) / 2
                let runDecode = { (kb: UnsafeRawBufferPointer, vb: UnsafeRawBufferPointer) in
                    for i in 0..<t {
                        for g in 0..<p.kvHeads {
                            for h0 in stride(from: g * group, to: (g + 1) * group, by: chunk) {
                                FastOps.attentionGroup(q: q, positions: pos, tokens: i..<(i + 1), heads: h0..<min(h0 + chunk, (g + 1) * group),
                                                       kCache: kb.baseAddress!, vCache: vb.baseAddress!, half: half, cacheLength: tk,
                                                       out: &decode, rows: &rows, rowStride: tk + 3, p, level: level)
                            }
                        }
                    }
                }
                if half { kh.withUnsafeBytes { kb in vh.withUnsafeBytes { vb in runDecode(kb, vb) } } } else { k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in runDecode(kb, vb) } } }
                #expect(zip(decode, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "decode items \(half ? "f16" : "f32") \(level)")
            }
        }
    }

#if arch(x86_64)
    /// Softmax's vector eˣ (x ≤ 0) against libm's expf over a dense sweep of [−100, 0]: within 2 ulp where the result
    /// is a normal float, 0 below the floor (where expf is subnormal or 0), exactly 1 at 0.
    /// Quantized and mixed precision's SiLU (FastSilu): near the exact value everywhere, and one value the same whether
    /// it goes through 16 lanes, a tail or alone (decode and prefill must agree bit for bit).
    @Test("FastSilu: within 4 ulp of x/(1 + e^−x) in Double on [−87.3, 100], 0 below; every ISA level's glu (lanes and tail) equals silu alone bit for bit")
    func fastSilu() {
        var worst: Double = 0
        // 2²⁰ evenly spaced points, and ± 2^−40 … 2^6 on a log scale (small values).
        let even = (0...(1 << 20)).map { Float(-100 + 200 * Double($0) / Double(1 << 20)) }
        let small = (0..<4096).flatMap { i -> [Float] in let m = Float(Foundation.pow(2, -40 + 46 * Double(i) / 4096)); return [m, -m] }
        for x in even + small {
            let exact = Double(x) / (1 + Foundation.exp(-Double(x)))
            let got = Double(FastSilu.silu(x))
            // Below x = −87.3 e^x is under Float's normal range: FastSilu gives 0 there (|exact| < 1e−35).
            if x > -87.3 || got != 0 { worst = max(worst, abs(got - exact) / Double(Float(exact).ulp)) } else { #expect(abs(exact) < 1e-35) }
        }
        print("FastSilu vs exact: worst \(worst) ulp")
        #expect(worst <= 4, "worst \(worst) ulp")
        #expect(FastSilu.silu(0) == 0 && FastSilu.silu(-200) == 0 && FastSilu.silu(200) == 200)
        var rng = SeededRandom(seed: 31)
        let n = 37, g = (0..<n).map { _ in rng.normal() * 8 } + [0, -0.0, -87.4, -87.3, 88, -30, 30], u = (0..<(n + 7)).map { _ in rng.normal() }
        for level in isaLevels {
            var y = [Float](repeating: .nan, count: n + 7)
            FastSilu.glu(gate: g, up: u, &y, count: n + 7, level: level)
            #expect((0..<(n + 7)).allSatisfy { y[$0].bitPattern == (FastSilu.silu(g[$0]) * u[$0]).bitPattern }, "\(level)")
        }
    }

    @Test("AVX-512 softmax exp: within 2 ulp of expf on x ≤ 0", .enabled(if: isaLevels.contains(.avx512), "no AVX-512 on this CPU"))
    func vectorExp() {
        var worst: Float = 0, worstX: Float = 0
        let count = 1 << 20
        for base in stride(from: 0, to: count, by: 16) {
            var x = SIMD16<Float>()
            for i in 0..<16 { x[i] = -100 * Float(base + i) / Float(count - 1) }
            let e = SKEKernelsAVX512.SIMDOps.expNonPositive(x)
            for i in 0..<16 {
                let want = expf(x[i])
                if want < Float.leastNormalMagnitude { #expect(e[i] >= 0 && e[i] <= Float.leastNormalMagnitude); continue }
                let ulps = abs(e[i] - want) / want.ulp
                if ulps > worst { worst = ulps; worstX = x[i] }
            }
        }
        print("softmax exp vs expf: worst \(worst) ulp at x = \(worstX)")
        #expect(worst <= 2, "worst \(worst) ulp at x = \(worstX)")
        #expect(SKEKernelsAVX512.SIMDOps.expNonPositive(SIMD16(repeating: 0)) == SIMD16(repeating: 1))
    }

    /// Attention's sixteen-position score sums (a transpose, then whole-vector adds) must be SIMD.sum()'s values: the
    /// one-position path and the blocked path then give the same scores bit for bit.
    @Test("AVX-512 attention: sixteen transposed horizontal sums equal SIMD.sum() bit for bit",
          .enabled(if: isaLevels.contains(.avx512), "no AVX-512 on this CPU"))
    func transposedSums() {
        var rng = SeededRandom(seed: 1616)
        var v: [SIMD16<Float>] = []
        for p in 0..<16 {
            var x = SIMD16<Float>()
            for i in 0..<16 {
                let magnitude = Float(1 << ((p + i) % 20)), sign: Float = i % 3 == 0 ? -1 : 1
                x[i] = rng.normal() * magnitude * sign
            }
            v.append(x)
        }
        let want = v.map { $0.sum() }
        let got = v.withUnsafeMutableBufferPointer { SKEKernelsAVX512.SIMDOps.sums16($0.baseAddress!) }
        for p in 0..<16 {
            let g: Float = got[p], w: Float = want[p]
            #expect(g.bitPattern == w.bitPattern, "position \(p): \(g) vs \(w)")
        }
    }
#endif
}
