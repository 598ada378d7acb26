// Prefill's integer GEMM over 16-row panels (AVX-512 VNNI level): a batch's weight rows are unpacked once per batch,
// sixteen at a time, into a panel whose 32-bit lane r holds row r (four consecutive codes per lane), and each 64-byte
// load of the panel then meets one token's four activation bytes broadcast to all sixteen lanes. Sixteen rows × four
// tokens per call, the per-row results summed as every other kernel of the type sums them (bit for bit the one-row
// dot): the dot kernels (PreparedDots.swift) unpack a weight block once per one or four tokens and fold lanes
// horizontally; here codes, scales and mins are unpacked once per batch and nothing is folded.
//
// Q4_K panel, per super-block b at 4992·b (16 rows; rows past the tensor's end are zeros):
//   [0, 4096)     k-quad g = 8s + j at 64g: slot s of the Q8_K record's order (sub-blocks 0,2 | 1,3 | 4,6 | 5,7),
//                 values 4j…4j+3 of that sub-block: row r's four codes (0–15) at 4r
//   [4096, 4608)  slot s at 4096 + 64s: row r's six-bit scale of that sub-block and 0, as int16 at 4r
//   [4608, 4864)  q at 4608 + 64q: row r's mins of sub-blocks 2q and 2q+1 as int16 at 4r
//   [4864, 4928)  d of row r (f32) at 4r;  [4928, 4992) dmin of row r
// The arithmetic is `Q4KSums`': per super-block, class q (k-quads j ≡ q mod 4) of each row and token is an exact
// int32 Σ sc·q·a (here: vpdpbusd per sub-block, then vpdpwssd with the scale), converted once and added with d·da;
// the mins likewise.
#if arch(x86_64)
import _Builtin_intrinsics.intel
import SKECore

extension PreparedDots {
    public static let q4KPanelBlockBytes = 4992

    /// Weight type → its panel GEMM (prefill), where there is one.
    public static let panelTable: [GGMLType: PanelGemmKernel] = [
        .q4_K: .init(pack: { packQ4_KPanel($0, $1, $2, $3, $4, $5) }, multiply: { gemmQ4_KPanel($0, $1, $2, $3, $4, $5, $6) },
                     blockBytes: q4KPanelBlockBytes, blockValues: 256, fixedFloats: 512, floatsPerBlock: 256),
        .q6_K: .init(pack: { packQ6_KPanel($0, $1, $2, $3, $4, $5) }, multiply: { gemmQ6_KPanel($0, $1, $2, $3, $4, $5, $6) },
                     blockBytes: q6KPanelBlockBytes, blockValues: 256, fixedFloats: 512, floatsPerBlock: 64),
        .q4_1: .init(pack: { packQ4_1Panel($0, $1, $2, $3, $4, $5) }, multiply: { gemmQ4_1Panel($0, $1, $2, $3, $4, $5, $6) },
                     blockBytes: q4_1PanelBlockBytes, blockValues: 32, fixedFloats: 512, floatsPerBlock: 64),
        .q5_0: .init(pack: { packQ5_0Panel($0, $1, $2, $3, $4, $5) }, multiply: { gemmQ5_0Panel($0, $1, $2, $3, $4, $5, $6) },
                     blockBytes: q5_0PanelBlockBytes, blockValues: 32, fixedFloats: 256, floatsPerBlock: 64),
        .q8_0: .init(pack: { packQ8_0Panel($0, $1, $2, $3, $4, $5) }, multiply: { gemmQ8_0Panel($0, $1, $2, $3, $4, $5, $6) },
                     blockBytes: q5_0PanelBlockBytes, blockValues: 32, fixedFloats: 256, floatsPerBlock: 64),
    ]

    /// Writes the panel of rows row0 ..< row0 + count (count ≤ 16) of the Q4_K tensor at w (rows of rowBytes): rows below
    /// `grouped` in the Q4_Kx4 layout (Interleave.swift; groups of four from row 0), the others in file order. The code
    /// bytes are transposed in registers (row r's byte dword m → lane r of register m) before their nibbles are split:
    /// dword m of code bytes 0–63 holds k-quads m (low nibbles) and 16 + m (high), of bytes 64–127 k-quads 32 + m and 48 + m.
    public static func packQ4_KPanel(_ w: UnsafeRawPointer, _ rowBytes: Int, _ row0: Int, _ count: Int, _ grouped: Int,
                                     _ panel: UnsafeMutableRawPointer) {
        let nb = rowBytes / 144, low = _mm512_set1_epi8(0x0F)
        // The rows' code bytes (0–63 of row r at [r], 64–127 at [16 + r]), and 16 more for the transpose.
        var staging = (Staging(), Staging(), Staging())
        withUnsafeMutableBytes(of: &staging) { raw in
            let v = raw.baseAddress!.assumingMemoryBound(to: __m512i.self)
            for b in 0..<nb {
                let p = panel + q4KPanelBlockBytes &* b
                for r in 0..<16 {
                    guard r < count else {
                        v[r] = _mm512_setzero_si512(); v[16 &+ r] = _mm512_setzero_si512()
                        for s in 0..<12 { p.storeBytes(of: 0, toByteOffset: 4096 &+ 64 &* s &+ 4 &* r, as: UInt32.self) }
                        p.storeBytes(of: 0, toByteOffset: 4864 &+ 4 &* r, as: Float.self)
                        p.storeBytes(of: 0, toByteOffset: 4928 &+ 4 &* r, as: Float.self)
                        continue
                    }
                    let row = row0 &+ r
                    // The super-block's fields: d and dmin (f16), the 12 scale bytes, and the code bytes as two 64-byte halves.
                    var dm: UInt32, scales: (UInt32, UInt32, UInt32)
                    if row < grouped {
                        // Q4_Kx4: d/dmin at 4l, scale word i at 16 + 16i + 4l, code chunk c at 64 + 64c (16 bytes at 16l).
                        let g = w + (row & ~3) &* rowBytes + 576 &* b, l = row & 3
                        dm = g.loadUnaligned(fromByteOffset: 4 &* l, as: UInt32.self)
                        scales = (g.loadUnaligned(fromByteOffset: 16 &+ 4 &* l, as: UInt32.self), g.loadUnaligned(fromByteOffset: 32 &+ 4 &* l, as: UInt32.self),
                                  g.loadUnaligned(fromByteOffset: 48 &+ 4 &* l, as: UInt32.self))
                        @inline(__always) func chunks(_ c: Int) -> __m512i {
                            let at = g + (64 &+ 64 &* c &+ 16 &* l)
                            let lo: __m256i = _mm256_set_m128i(ld128(at + 64), ld128(at)), hi: __m256i = _mm256_set_m128i(ld128(at + 192), ld128(at + 128))
                            return _mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(lo), 0xF0, hi)
                        }
                        v[r] = chunks(0); v[16 &+ r] = chunks(4)
                    } else {
                        let x = w + row &* rowBytes + 144 &* b
                        dm = x.loadUnaligned(as: UInt32.self)
                        scales = (x.loadUnaligned(fromByteOffset: 4, as: UInt32.self), x.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
                                  x.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                        v[r] = ld512(x + 16); v[16 &+ r] = ld512(x + 80)
                    }
                    let (sc, mn) = withUnsafeBytes(of: &scales) { kScalesMins($0.baseAddress!) }
                    for s in 0..<8 {
                        let v = UInt32(truncatingIfNeeded: sc >> (8 &* UInt64(kOrder[s]))) & 0xFF
                        p.storeBytes(of: v, toByteOffset: 4096 &+ 64 &* s &+ 4 &* r, as: UInt32.self)
                    }
                    for q in 0..<4 {
                        let m = UInt32(truncatingIfNeeded: mn >> (16 &* UInt64(q))) & 0xFFFF
                        p.storeBytes(of: (m & 0xFF) | (m >> 8) << 16, toByteOffset: 4608 &+ 64 &* q &+ 4 &* r, as: UInt32.self)
                    }
                    let f = _mm_cvtph_ps(_mm_cvtsi32_si128(Int32(bitPattern: dm)))
                    p.storeBytes(of: _mm_cvtss_f32(f), toByteOffset: 4864 &+ 4 &* r, as: Float.self)
                    p.storeBytes(of: _mm_cvtss_f32(_mm_movehdup_ps(f)), toByteOffset: 4928 &+ 4 &* r, as: Float.self)
                }
                for half in 0..<2 {
                    transpose16(v + 16 &* half, v + 32)
                    for m in 0..<16 {
                        let t = v[16 &* half &+ m], g = 32 &* half &+ m
                        _mm512_storeu_si512(p + 64 &* g, _mm512_and_si512(t, low))
                        _mm512_storeu_si512(p + 64 &* (g &+ 16), _mm512_and_si512(_mm512_srli_epi16(t, 4), low))
                    }
                }
            }
        }
    }

    /// 16 registers of stack space.
    struct Staging {
        var a = (_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                 _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512())
        var b = (_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                 _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512())
    }

    /// In place (u: 16 registers of scratch): lane r of v[m] ← lane m of v[r] (a 16 × 16 transpose of 32-bit elements): pairs of rows interleaved,
    /// then quads (each 128-bit lane then holds one column of four rows), then the 128-bit lanes of four quads exchanged.
    @inline(__always) static func transpose16(_ v: UnsafeMutablePointer<__m512i>, _ u: UnsafeMutablePointer<__m512i>) {
        for r in stride(from: 0, to: 16, by: 2) {
            let a = v[r], b = v[r &+ 1]
            v[r] = _mm512_unpacklo_epi32(a, b); v[r &+ 1] = _mm512_unpackhi_epi32(a, b)
        }
        // Quad k (rows 4k…4k+3): w[k][j], 128-bit lane L = column 4L + j of the four rows.
        for k in 0..<4 {
            let a = v[4 &* k], b = v[4 &* k &+ 1], c = v[4 &* k &+ 2], d = v[4 &* k &+ 3]
            v[4 &* k] = _mm512_unpacklo_epi64(a, c); v[4 &* k &+ 1] = _mm512_unpackhi_epi64(a, c)
            v[4 &* k &+ 2] = _mm512_unpacklo_epi64(b, d); v[4 &* k &+ 3] = _mm512_unpackhi_epi64(b, d)
        }
        // 64-bit element indices of two-source permutes: (a's 128-bit lanes 0, 1, b's 0, 1), (2, 3, 2, 3), then
        // (a's 0, 2, b's 0, 2) and (1, 3, 1, 3).
        let lo = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), hi = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4)
        let even = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), odd = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2)
        for j in 0..<4 {
            let w0 = v[j], w1 = v[4 &+ j], w2 = v[8 &+ j], w3 = v[12 &+ j]
            let x0 = _mm512_permutex2var_epi64(w0, lo, w1), x1 = _mm512_permutex2var_epi64(w0, hi, w1)
            let x2 = _mm512_permutex2var_epi64(w2, lo, w3), x3 = _mm512_permutex2var_epi64(w2, hi, w3)
            u[j] = _mm512_permutex2var_epi64(x0, even, x2); u[4 &+ j] = _mm512_permutex2var_epi64(x0, odd, x2)
            u[8 &+ j] = _mm512_permutex2var_epi64(x1, even, x3); u[12 &+ j] = _mm512_permutex2var_epi64(x1, odd, x3)
        }
        for m in 0..<16 { v[m] = u[m] }
    }

    /// One class's int32 sums for the four tokens.
    struct TokenSums { var t0 = _mm512_setzero_si512(), t1 = _mm512_setzero_si512(), t2 = _mm512_setzero_si512(), t3 = _mm512_setzero_si512() }

    /// out[16t + r] = row r of the panel · token t's prepared Q8_K row (at a + t·stride) for t < tokens (1…4), equal to
    /// `dotQ4_K` of the original row bit for bit. `acc`: 512 + 256·k/256 floats of scratch, 64-byte aligned.
    public static func gemmQ4_KPanel(_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                     _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 256, side = sidecarOffset(nb * 292), last = tokens - 1
        // Fewer than four tokens: the last one is computed again in the unused places.
        let x0 = a + side, x1 = a + min(1, last) &* stride + side, x2 = a + min(2, last) &* stride + side, x3 = a + min(3, last) &* stride + side
        let sums = UnsafeMutableRawPointer(acc).assumingMemoryBound(to: __m512.self)   // token t: acc_q at 8t + q, macc_q at 8t + 4 + q
        let blockSums = UnsafeMutableRawPointer(acc + 512).assumingMemoryBound(to: __m512i.self)   // super-block b: 16b + 4t + q
        for i in 0..<32 { sums[i] = _mm512_setzero_ps() }
        for b in 0..<nb {
            let p = panel + q4KPanelBlockBytes &* b, o = q8_KBlockBytes &* b
            let y0 = x0 + o, y1 = x1 + o, y2 = x2 + o, y3 = x3 + o
            var c0 = TokenSums(), c1 = TokenSums(), c2 = TokenSums(), c3 = TokenSums()
            @inline(__always) func bcast(_ y: UnsafeRawPointer, _ off: Int) -> __m512i { _mm512_set1_epi32(y.loadUnaligned(fromByteOffset: off, as: Int32.self)) }
            // Class q of slot s: k-quads q and q + 4 with vpdpbusd (|Σ| ≤ 8·15·128, so the int32 lane is also its own
            // low int16), then vpdpwssd against (scale, 0) adds scale·Σ: one multiply per k-quad and one per two.
            @inline(__always) func pair(_ wa: __m512i, _ wb: __m512i, _ sc: __m512i, _ off: Int, _ c: inout TokenSums) {
                @inline(__always) func one(_ y: UnsafeRawPointer, _ acc: __m512i) -> __m512i {
                    _mm512_dpwssd_epi32(acc, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wa, bcast(y, off)), wb, bcast(y, off &+ 16)), sc)
                }
                c.t0 = one(y0, c.t0); c.t1 = one(y1, c.t1); c.t2 = one(y2, c.t2); c.t3 = one(y3, c.t3)
            }
            for s in 0..<8 {
                let sc = ld512(p + (4096 &+ 64 &* s)), ps = p + 512 &* s, ys = 32 &* s
                pair(ld512(ps), ld512(ps + 256), sc, ys, &c0); pair(ld512(ps + 64), ld512(ps + 320), sc, ys &+ 4, &c1)
                pair(ld512(ps + 128), ld512(ps + 384), sc, ys &+ 8, &c2); pair(ld512(ps + 192), ld512(ps + 448), sc, ys &+ 12, &c3)
            }
            // The sixteen exact sums, stored: they are converted and scaled after the last super-block (converting them
            // here, each conversion waiting for its chain, halved the throughput).
            let ints = blockSums + 16 &* b
            ints[0] = c0.t0; ints[1] = c1.t0; ints[2] = c2.t0; ints[3] = c3.t0
            ints[4] = c0.t1; ints[5] = c1.t1; ints[6] = c2.t1; ints[7] = c3.t1
            ints[8] = c0.t2; ints[9] = c1.t2; ints[10] = c2.t2; ints[11] = c3.t2
            ints[12] = c0.t3; ints[13] = c1.t3; ints[14] = c2.t3; ints[15] = c3.t3
        }
        for b in 0..<nb {
            let p = panel + q4KPanelBlockBytes &* b, o = q8_KBlockBytes &* b, ints = blockSums + 16 &* b
            let d = _mm512_loadu_ps(p + 4864), dmin = _mm512_loadu_ps(p + 4928)
            let m0 = ld512(p + 4608), m1 = ld512(p + 4672), m2 = ld512(p + 4736), m3 = ld512(p + 4800)
            @inline(__always) func fold(_ y: UnsafeRawPointer, _ t: Int) {
                let da = _mm512_set1_ps(y.loadUnaligned(fromByteOffset: 256, as: Float.self))
                let f = _mm512_mul_ps(d, da), fm = _mm512_mul_ps(dmin, da), s = sums + 8 &* t, i = ints + 4 &* t
                s[0] = _mm512_fmadd_ps(f, _mm512_cvtepi32_ps(i[0]), s[0]); s[1] = _mm512_fmadd_ps(f, _mm512_cvtepi32_ps(i[1]), s[1])
                s[2] = _mm512_fmadd_ps(f, _mm512_cvtepi32_ps(i[2]), s[2]); s[3] = _mm512_fmadd_ps(f, _mm512_cvtepi32_ps(i[3]), s[3])
                @inline(__always) func mins(_ m: __m512i, _ q: Int) -> __m512 {
                    _mm512_cvtepi32_ps(_mm512_madd_epi16(m, _mm512_set1_epi32(y.loadUnaligned(fromByteOffset: 304 &+ 4 &* q, as: Int32.self))))
                }
                s[4] = _mm512_fmadd_ps(fm, mins(m0, 0), s[4]); s[5] = _mm512_fmadd_ps(fm, mins(m1, 1), s[5])
                s[6] = _mm512_fmadd_ps(fm, mins(m2, 2), s[6]); s[7] = _mm512_fmadd_ps(fm, mins(m3, 3), s[7])
            }
            fold(x0 + o, 0); fold(x1 + o, 1); fold(x2 + o, 2); fold(x3 + o, 3)
        }
        for t in 0..<tokens {
            let s = sums + 8 &* t
            let total = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(s[0], s[4]), _mm512_sub_ps(s[1], s[5])),
                                      _mm512_add_ps(_mm512_sub_ps(s[2], s[6]), _mm512_sub_ps(s[3], s[7])))
            _mm512_storeu_ps(out + 16 &* t, total)
        }
    }

    // Q6_K panel, per super-block b at 5696·b (16 rows; rows past the tensor's end are zeros):
    //   [0, 4096)     k-quad g (values 4g…4g+3) at 64g: row r's four codes (0–63) at 4r
    //   [4096, 5120)  16-value group j at 4096 + 64j: row r's scale (int8 → int16) twice at 4r
    //   [5120, 5632)  groups 2p, 2p+1 at 5120 + 64p: row r's two scales as int16 at 4r (the −32 offset's correction)
    //   [5632, 5696)  d of row r (f32) at 4r
    // The arithmetic is `q6KBlock`'s: per super-block an exact int32 Σ sc·(q − 32)·a per row and token, converted once
    // and added with d·da.
    public static let q6KPanelBlockBytes = 5696

    /// Writes the Q6_K panel of rows row0 ..< row0 + count (count ≤ 16) of the tensor at w (rows of rowBytes, file order).
    public static func packQ6_KPanel(_ w: UnsafeRawPointer, _ rowBytes: Int, _ row0: Int, _ count: Int, _ grouped: Int,
                                     _ panel: UnsafeMutableRawPointer) {
        let nb = rowBytes / 210, index = q6Index()
        // The rows' codes: values 64h…64h+63 of row r at [16h + r], and 16 more registers for the transpose.
        var staging = (Staging(), Staging(), Staging(), Staging(), Staging())
        withUnsafeMutableBytes(of: &staging) { raw in
            let v = raw.baseAddress!.assumingMemoryBound(to: __m512i.self)
            for b in 0..<nb {
                let p = panel + q6KPanelBlockBytes &* b
                for r in 0..<16 {
                    guard r < count else {
                        for h in 0..<4 { v[16 &* h &+ r] = _mm512_setzero_si512() }
                        for s in 0..<24 { p.storeBytes(of: 0, toByteOffset: 4096 &+ 64 &* s &+ 4 &* r, as: UInt32.self) }
                        p.storeBytes(of: 0, toByteOffset: 5632 &+ 4 &* r, as: Float.self)
                        continue
                    }
                    let x = w + (row0 &+ r) &* rowBytes + 210 &* b
                    let c = q6KCodes(x, index)
                    v[r] = c.a0; v[16 &+ r] = c.b0; v[32 &+ r] = c.a1; v[48 &+ r] = c.b1
                    for j in 0..<16 {
                        let s = UInt32(UInt16(bitPattern: Int16(x.load(fromByteOffset: 192 &+ j, as: Int8.self))))
                        p.storeBytes(of: s | s << 16, toByteOffset: 4096 &+ 64 &* j &+ 4 &* r, as: UInt32.self)
                    }
                    for q in 0..<8 {
                        let s0 = UInt32(UInt16(bitPattern: Int16(x.load(fromByteOffset: 192 &+ 2 &* q, as: Int8.self))))
                        let s1 = UInt32(UInt16(bitPattern: Int16(x.load(fromByteOffset: 193 &+ 2 &* q, as: Int8.self))))
                        p.storeBytes(of: s0 | s1 << 16, toByteOffset: 5120 &+ 64 &* q &+ 4 &* r, as: UInt32.self)
                    }
                    p.storeBytes(of: c.d, toByteOffset: 5632 &+ 4 &* r, as: Float.self)
                }
                for h in 0..<4 {
                    transpose16(v + 16 &* h, v + 64)
                    for m in 0..<16 { _mm512_storeu_si512(p + 64 &* (16 &* h &+ m), v[16 &* h &+ m]) }
                }
            }
        }
    }

    /// out[16t + r] = row r of the Q6_K panel · token t's Q8_K row (at a + t·stride) for t < tokens (1…4), equal to
    /// `dotQ6_K` of the original row bit for bit. `acc`: 512 + 64·k/256 floats, 64-byte aligned.
    public static func gemmQ6_KPanel(_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                     _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 256, last = tokens - 1
        let x0 = a, x1 = a + min(1, last) &* stride, x2 = a + min(2, last) &* stride, x3 = a + min(3, last) &* stride
        let sums = UnsafeMutableRawPointer(acc).assumingMemoryBound(to: __m512.self)   // token t at t
        let blockSums = UnsafeMutableRawPointer(acc + 512).assumingMemoryBound(to: __m512i.self)   // super-block b: 4b + t
        for i in 0..<4 { sums[i] = _mm512_setzero_ps() }
        for b in 0..<nb {
            let p = panel + q6KPanelBlockBytes &* b, o = 292 &* b + 4
            let y0 = x0 + o, y1 = x1 + o, y2 = x2 + o, y3 = x3 + o
            var c0 = TokenSums(), c1 = TokenSums(), c2 = TokenSums(), c3 = TokenSums()
            @inline(__always) func bcast(_ y: UnsafeRawPointer, _ off: Int) -> __m512i { _mm512_set1_epi32(y.loadUnaligned(fromByteOffset: off, as: Int32.self)) }
            @inline(__always) func step(_ w: __m512i, _ sc: __m512i, _ off: Int, _ c: inout TokenSums) {
                c.t0 = _mm512_dpwssd_epi32(c.t0, _mm512_maddubs_epi16(w, bcast(y0, off)), sc)
                c.t1 = _mm512_dpwssd_epi32(c.t1, _mm512_maddubs_epi16(w, bcast(y1, off)), sc)
                c.t2 = _mm512_dpwssd_epi32(c.t2, _mm512_maddubs_epi16(w, bcast(y2, off)), sc)
                c.t3 = _mm512_dpwssd_epi32(c.t3, _mm512_maddubs_epi16(w, bcast(y3, off)), sc)
            }
            for j in 0..<16 {
                let sc = ld512(p + (4096 &+ 64 &* j)), pj = p + 256 &* j, yj = 16 &* j
                step(ld512(pj), sc, yj, &c0); step(ld512(pj + 64), sc, yj &+ 4, &c1)
                step(ld512(pj + 128), sc, yj &+ 8, &c2); step(ld512(pj + 192), sc, yj &+ 12, &c3)
            }
            let ints = blockSums + 4 &* b
            @inline(__always) func total(_ a: __m512i, _ b: __m512i, _ c: __m512i, _ d: __m512i) -> __m512i {
                _mm512_add_epi32(_mm512_add_epi32(a, b), _mm512_add_epi32(c, d))
            }
            ints[0] = total(c0.t0, c1.t0, c2.t0, c3.t0); ints[1] = total(c0.t1, c1.t1, c2.t1, c3.t1)
            ints[2] = total(c0.t2, c1.t2, c2.t2, c3.t2); ints[3] = total(c0.t3, c1.t3, c2.t3, c3.t3)
        }
        for b in 0..<nb {
            let p = panel + q6KPanelBlockBytes &* b, o = 292 &* b, ints = blockSums + 4 &* b
            let d = _mm512_loadu_ps(p + 5632)
            @inline(__always) func fold(_ y: UnsafeRawPointer, _ t: Int) {
                // −32·Σ_g sc_g·bsum_g (the block sums, int16 at y + 260), exact.
                var corr = _mm512_setzero_si512()
                for q in 0..<8 {
                    corr = _mm512_dpwssd_epi32(corr, ld512(p + (5120 &+ 64 &* q)), _mm512_set1_epi32(y.loadUnaligned(fromByteOffset: 260 &+ 4 &* q, as: Int32.self)))
                }
                let isum = _mm512_sub_epi32(ints[t], _mm512_slli_epi32(corr, 5))
                let da = _mm512_set1_ps(y.loadUnaligned(as: Float.self))
                sums[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(isum), sums[t])
            }
            fold(x0 + o, 0); fold(x1 + o, 1); fold(x2 + o, 2); fold(x3 + o, 3)
        }
        for t in 0..<tokens { _mm512_storeu_ps(out + 16 &* t, sums[t]) }
    }

    // Q4_1 panel, per block b at 640·b (16 rows; rows past the tensor's end are zeros):
    //   [0, 512)      k-quad g (values 4g…4g+3) at 64g: row r's four codes (0–15) at 4r
    //   [512, 576)    d of row r (f32) at 4r;  [576, 640)  m of row r (f32) at 4r
    // The arithmetic is `Q4_1Quad`'s: per block b an exact int32 I = Σ q·a per row and token, and lane b mod 4 of four
    // float sums takes fma(Float(I), d·da); the min terms m·s (s the Q8_1 block's d·Σa) go to four sums of their own;
    // the row is ((l₀ + l₁) + (l₂ + l₃)) + ((n₀ + n₁) + (n₂ + n₃)).
    public static let q4_1PanelBlockBytes = 640

    /// Writes the Q4_1 panel of rows row0 ..< row0 + count (count ≤ 16) of the tensor at w (rows of rowBytes): rows below
    /// `grouped` in the Q4_1x4 layout (Interleave.swift; groups of four from row 0), the others in file order. Two
    /// blocks of a row are one register of 64 codes (block b's values 0–31, then block b + 1's), transposed 16 × 16
    /// in registers: dword m of row r → lane r of register m (k-quad m of block b, or m − 8 of block b + 1).
    public static func packQ4_1Panel(_ w: UnsafeRawPointer, _ rowBytes: Int, _ row0: Int, _ count: Int, _ grouped: Int,
                                     _ panel: UnsafeMutableRawPointer) {
        let nb = rowBytes / 20, nq = nb / 4
        /// Row `row`'s block b: its 16 code bytes, d and m (f16 bits).
        @inline(__always) func block(_ row: Int, _ b: Int) -> (codes: UnsafeRawPointer, d: UInt16, m: UInt16) {
            if row < grouped {
                // Q4_1x4: quads of four blocks (codes of block j at 64j + 16l, d at 256 + 2(4l + j), m at 288 + …),
                // then the last nb mod 4 blocks, 80 bytes each (codes at 16l, d at 64 + 2l, m at 72 + 2l).
                let g = w + (row & ~3) &* rowBytes, l = row & 3
                if b < 4 &* nq {
                    let q = g + 320 &* (b >> 2), j = b & 3
                    return (q + (64 &* j &+ 16 &* l), q.loadUnaligned(fromByteOffset: 256 &+ 2 &* (4 &* l &+ j), as: UInt16.self),
                            q.loadUnaligned(fromByteOffset: 288 &+ 2 &* (4 &* l &+ j), as: UInt16.self))
                }
                let t = g + (320 &* nq &+ 80 &* (b &- 4 &* nq))
                return (t + 16 &* l, t.loadUnaligned(fromByteOffset: 64 &+ 2 &* l, as: UInt16.self), t.loadUnaligned(fromByteOffset: 72 &+ 2 &* l, as: UInt16.self))
            }
            let x = w + (row &* rowBytes &+ 20 &* b)
            return (x + 4, x.loadUnaligned(as: UInt16.self), x.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        }
        let zeros = _mm512_setzero_si512()
        var staging = (Staging(), Staging())
        withUnsafeMutableBytes(of: &staging) { raw in
            let v = raw.baseAddress!.assumingMemoryBound(to: __m512i.self)
            withUnsafeBytes(of: zeros) { none in
                for b in stride(from: 0, to: nb, by: 2) {
                    let two = b &+ 1 < nb
                    for r in 0..<16 {
                        for j in 0..<(two ? 2 : 1) {
                            let p = panel + q4_1PanelBlockBytes &* (b &+ j)
                            guard r < count else {
                                p.storeBytes(of: 0, toByteOffset: 512 &+ 4 &* r, as: Float.self)
                                p.storeBytes(of: 0, toByteOffset: 576 &+ 4 &* r, as: Float.self)
                                continue
                            }
                            let blk = block(row0 &+ r, b &+ j)
                            p.storeBytes(of: Float(Float16(bitPattern: blk.d)), toByteOffset: 512 &+ 4 &* r, as: Float.self)
                            p.storeBytes(of: Float(Float16(bitPattern: blk.m)), toByteOffset: 576 &+ 4 &* r, as: Float.self)
                        }
                        guard r < count else { v[r] = zeros; continue }
                        v[r] = nibbles64(block(row0 &+ r, b).codes, two ? block(row0 &+ r, b &+ 1).codes : none.baseAddress!)
                    }
                    storeTwoBlocks(v, panel, b, two: two, blockBytes: q4_1PanelBlockBytes)
                }
            }
        }
    }

    /// out[16t + r] = row r of the Q4_1 panel · token t's Q8_1 row (at a + t·stride) for t < tokens (1…4), equal to
    /// `dotQ4_1` of the original row bit for bit. `acc`: 512 + 64·k/32 floats, 64-byte aligned.
    public static func gemmQ4_1Panel(_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                     _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 32, last = tokens - 1
        let x0 = a, x1 = a + min(1, last) &* stride, x2 = a + min(2, last) &* stride, x3 = a + min(3, last) &* stride
        let sums = UnsafeMutableRawPointer(acc).assumingMemoryBound(to: __m512.self)   // token t: l_j at 8t + j, n_j at 8t + 4 + j
        let blockSums = UnsafeMutableRawPointer(acc + 512).assumingMemoryBound(to: __m512i.self)   // block b: 4b + t
        for i in 0..<32 { sums[i] = _mm512_setzero_ps() }
        smallBlockSums(panel, panelBlock: q4_1PanelBlockBytes, (x0, x1, x2, x3), activationBlock: 36, codes: 4, nb, blockSums)
        for b in 0..<nb {
            let p = panel + q4_1PanelBlockBytes &* b, o = 36 &* b, ints = blockSums + 4 &* b, j = b & 3
            let d = _mm512_loadu_ps(p + 512), m = _mm512_loadu_ps(p + 576)
            @inline(__always) func fold(_ y: UnsafeRawPointer, _ t: Int) {
                let s = sums + 8 &* t
                s[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ints[t]), _mm512_mul_ps(d, _mm512_set1_ps(h16(y, 0))), s[j])
                s[4 &+ j] = _mm512_fmadd_ps(m, _mm512_set1_ps(h16(y, 2)), s[4 &+ j])
            }
            fold(x0 + o, 0); fold(x1 + o, 1); fold(x2 + o, 2); fold(x3 + o, 3)
        }
        for t in 0..<tokens {
            let s = sums + 8 &* t
            let l = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]))
            let n = _mm512_add_ps(_mm512_add_ps(s[4], s[5]), _mm512_add_ps(s[6], s[7]))
            _mm512_storeu_ps(out + 16 &* t, _mm512_add_ps(l, n))
        }
    }

    // Q5_0 panel, per block b at 576·b (16 rows; rows past the tensor's end are zeros):
    //   [0, 512)      k-quad g (values 4g…4g+3) at 64g: row r's four codes (0–31, the fifth bit added) at 4r
    //   [512, 576)    d of row r (f32) at 4r
    // The arithmetic is `Q5_0Quad`'s: per block b the exact int32 I = Σ q·a − 16·Σa per row and token, and lane b mod 4
    // of four float sums takes fma(Float(I), d·da); the row is (l₀ + l₁) + (l₂ + l₃).
    public static let q5_0PanelBlockBytes = 576

    /// Writes the Q5_0 panel of rows row0 ..< row0 + count (count ≤ 16) of the tensor at w (rows of rowBytes): rows below
    /// `grouped` in the Q5_0x4 layout (Interleave.swift; groups of four from row 0, rows of a multiple of four blocks),
    /// the others in file order. As `packQ4_1Panel`: two blocks of a row per register, transposed 16 × 16.
    public static func packQ5_0Panel(_ w: UnsafeRawPointer, _ rowBytes: Int, _ row0: Int, _ count: Int, _ grouped: Int,
                                     _ panel: UnsafeMutableRawPointer) {
        let nb = rowBytes / 22
        /// Row `row`'s block b: its 16 code bytes, its fifth bits (bit i: value i) and d (f16 bits).
        @inline(__always) func block(_ row: Int, _ b: Int) -> (codes: UnsafeRawPointer, qh: UInt32, d: UInt16) {
            if row < grouped {
                // Q5_0x4: codes of block j at 64j + 16l, qh halves at 256 + 16j + 2l and + 8, d at 320 + 2(4l + j).
                let q = w + ((row & ~3) &* rowBytes &+ 352 &* (b >> 2)), l = row & 3, j = b & 3
                let qh = UInt32(q.loadUnaligned(fromByteOffset: 256 &+ 16 &* j &+ 2 &* l, as: UInt16.self))
                    | UInt32(q.loadUnaligned(fromByteOffset: 264 &+ 16 &* j &+ 2 &* l, as: UInt16.self)) << 16
                return (q + (64 &* j &+ 16 &* l), qh, q.loadUnaligned(fromByteOffset: 320 &+ 2 &* (4 &* l &+ j), as: UInt16.self))
            }
            let x = w + (row &* rowBytes &+ 22 &* b)
            return (x + 6, x.loadUnaligned(fromByteOffset: 2, as: UInt32.self), x.loadUnaligned(as: UInt16.self))
        }
        let zeros = _mm512_setzero_si512(), sixteen = _mm512_set1_epi8(0x10)
        var staging = (Staging(), Staging())
        withUnsafeMutableBytes(of: &staging) { raw in
            let v = raw.baseAddress!.assumingMemoryBound(to: __m512i.self)
            withUnsafeBytes(of: zeros) { none in
                for b in stride(from: 0, to: nb, by: 2) {
                    let two = b &+ 1 < nb
                    for r in 0..<16 {
                        guard r < count else {
                            v[r] = zeros
                            for j in 0..<(two ? 2 : 1) { (panel + q5_0PanelBlockBytes &* (b &+ j)).storeBytes(of: 0, toByteOffset: 512 &+ 4 &* r, as: Float.self) }
                            continue
                        }
                        let first = block(row0 &+ r, b), second = two ? block(row0 &+ r, b &+ 1) : (codes: none.baseAddress!, qh: 0, d: 0)
                        (panel + q5_0PanelBlockBytes &* b).storeBytes(of: Float(Float16(bitPattern: first.d)), toByteOffset: 512 &+ 4 &* r, as: Float.self)
                        if two { (panel + q5_0PanelBlockBytes &* (b &+ 1)).storeBytes(of: Float(Float16(bitPattern: second.d)), toByteOffset: 512 &+ 4 &* r, as: Float.self) }
                        // Bytes 0–31: block b's values 0–31, 32–63: block b + 1's; bit i of the mask adds 16 to byte i.
                        let codes = nibbles64(first.codes, second.codes)
                        v[r] = _mm512_mask_add_epi8(codes, UInt64(first.qh) | UInt64(second.qh) << 32, codes, sixteen)
                    }
                    storeTwoBlocks(v, panel, b, two: two, blockBytes: q5_0PanelBlockBytes)
                }
            }
        }
    }

    /// out[16t + r] = row r of the Q5_0 panel · token t's prepared Q8_0 row (at a + t·stride) for t < tokens (1…4),
    /// equal to `dotQ5_0` of the original row bit for bit. `acc`: 256 + 64·k/32 floats, 64-byte aligned.
    public static func gemmQ5_0Panel(_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                     _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        gemmOffsetPanel(panel, k, a, stride, tokens, acc, out, shift: 0)
    }

    // Q8_0 panel: Q5_0's layout (576 bytes per block), the codes + 128 as unsigned bytes (−128·Σa added back).
    // The arithmetic is `Q8_0Quad`'s.

    /// Writes the Q8_0 panel of rows row0 ..< row0 + count (count ≤ 16) of the tensor at w (rows of rowBytes, file order:
    /// Q8_0 has no interleaved copy, `grouped` is 0). Two blocks of a row per register, transposed 16 × 16.
    public static func packQ8_0Panel(_ w: UnsafeRawPointer, _ rowBytes: Int, _ row0: Int, _ count: Int, _ grouped: Int,
                                     _ panel: UnsafeMutableRawPointer) {
        let nb = rowBytes / 34, zeros = _mm512_setzero_si512(), flip = _mm512_set1_epi8(-128)
        var staging = (Staging(), Staging())
        withUnsafeMutableBytes(of: &staging) { raw in
            let v = raw.baseAddress!.assumingMemoryBound(to: __m512i.self)
            for b in stride(from: 0, to: nb, by: 2) {
                let two = b &+ 1 < nb
                for r in 0..<16 {
                    for j in 0..<(two ? 2 : 1) {
                        let d = r < count ? h16(w + ((row0 &+ r) &* rowBytes &+ 34 &* (b &+ j)), 0) : 0
                        (panel + q5_0PanelBlockBytes &* (b &+ j)).storeBytes(of: d, toByteOffset: 512 &+ 4 &* r, as: Float.self)
                    }
                    guard r < count else { v[r] = zeros; continue }
                    // Bytes 0–31: block b's codes, 32–63: block b + 1's (or zeros), + 128.
                    let x = w + ((row0 &+ r) &* rowBytes &+ 34 &* b)
                    let second = two ? ld256(x + 36) : _mm256_setzero_si256()
                    v[r] = _mm512_xor_si512(_mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(ld256(x + 2)), 0xF0, second), flip)
                }
                storeTwoBlocks(v, panel, b, two: two, blockBytes: q5_0PanelBlockBytes)
            }
        }
    }

    /// out[16t + r] = row r of the Q8_0 panel · token t's prepared Q8_0 row (at a + t·stride) for t < tokens (1…4),
    /// equal to `dotQ8_0` of the original row bit for bit. `acc`: 256 + 64·k/32 floats, 64-byte aligned.
    public static func gemmQ8_0Panel(_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                     _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        gemmOffsetPanel(panel, k, a, stride, tokens, acc, out, shift: 3)
    }

    /// Q5_0's and Q8_0's panel product: unsigned codes · activations, less (16·Σa) << shift per block (Q5_0: the
    /// codes' −16 offset; Q8_0, shift 3: the +128 of its flipped codes).
    @inline(__always) static func gemmOffsetPanel(_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                                  _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, shift: Int32) {
        let nb = k / 32, last = tokens - 1, nq = nb / 4
        let x0 = a, x1 = a + min(1, last) &* stride, x2 = a + min(2, last) &* stride, x3 = a + min(3, last) &* stride
        // The sidecar's quad records hold −16·Σa of each block of the first 4·⌊nb/4⌋ (PreparedDots.swift).
        let quads = sidecarOffset(nb &* 34) &+ nb / 2 &* q8_0PairBytes
        let sums = UnsafeMutableRawPointer(acc).assumingMemoryBound(to: __m512.self)   // token t: l_j at 4t + j
        let blockSums = UnsafeMutableRawPointer(acc + 256).assumingMemoryBound(to: __m512i.self)   // block b: 4b + t
        for i in 0..<16 { sums[i] = _mm512_setzero_ps() }
        smallBlockSums(panel, panelBlock: q5_0PanelBlockBytes, (x0, x1, x2, x3), activationBlock: 34, codes: 2, nb, blockSums)
        for b in 0..<nb {
            let p = panel + q5_0PanelBlockBytes &* b, o = 34 &* b, ints = blockSums + 4 &* b, j = b & 3
            let d = _mm512_loadu_ps(p + 512)
            @inline(__always) func fold(_ x: UnsafeRawPointer, _ t: Int) {
                let y = x + o
                // −16·Σa: from the quad record, or summed here for a block past the last four; then shifted.
                var offset: Int32 = 0
                if b < 4 &* nq {
                    offset = x.loadUnaligned(fromByteOffset: quads &+ q8_0QuadBytes &* (b >> 2) &+ 256 &+ 4 &* j, as: Int32.self)
                } else {
                    for i in 0..<32 { offset &-= 16 &* Int32(y.load(fromByteOffset: 2 &+ i, as: Int8.self)) }
                }
                offset <<= shift
                let i = _mm512_add_epi32(ints[t], _mm512_set1_epi32(offset))
                sums[4 &* t &+ j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(d, _mm512_set1_ps(h16(y, 0))), sums[4 &* t &+ j])
            }
            fold(x0, 0); fold(x1, 1); fold(x2, 2); fold(x3, 3)
        }
        for t in 0..<tokens {
            let s = sums + 4 &* t
            _mm512_storeu_ps(out + 16 &* t, _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])))
        }
    }

    /// The integer pass of the small-block panels (Q4_1, Q5_0, Q8_0): blockSums[4b + t] = Σ over block b's 32 values of
    /// the panel's unsigned codes (k-quad g at 64g, lane r = row r) · token t's activations (its standard block at
    /// x_t + activationBlock·b, the int8 codes from `codes` on), exact; stored for the fold after the last block.
    @inline(__always) static func smallBlockSums(_ panel: UnsafeRawPointer, panelBlock: Int,
                                                 _ x: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                                 activationBlock: Int, codes: Int, _ nb: Int, _ blockSums: UnsafeMutablePointer<__m512i>) {
        for b in 0..<nb {
            let p = panel + panelBlock &* b, o = activationBlock &* b &+ codes
            let y0 = x.0 + o, y1 = x.1 + o, y2 = x.2 + o, y3 = x.3 + o
            // Two chains per token (even and odd k-quads), added at the end: exact.
            var e = TokenSums(), f = TokenSums()
            @inline(__always) func bcast(_ y: UnsafeRawPointer, _ off: Int) -> __m512i { _mm512_set1_epi32(y.loadUnaligned(fromByteOffset: off, as: Int32.self)) }
            @inline(__always) func step(_ w: __m512i, _ off: Int, _ c: inout TokenSums) {
                c.t0 = _mm512_dpbusd_epi32(c.t0, w, bcast(y0, off)); c.t1 = _mm512_dpbusd_epi32(c.t1, w, bcast(y1, off))
                c.t2 = _mm512_dpbusd_epi32(c.t2, w, bcast(y2, off)); c.t3 = _mm512_dpbusd_epi32(c.t3, w, bcast(y3, off))
            }
            for g in Swift.stride(from: 0, to: 8, by: 2) {
                step(ld512(p + 64 &* g), 4 &* g, &e); step(ld512(p + (64 &* g &+ 64)), 4 &* g &+ 4, &f)
            }
            let ints = blockSums + 4 &* b
            ints[0] = _mm512_add_epi32(e.t0, f.t0); ints[1] = _mm512_add_epi32(e.t1, f.t1)
            ints[2] = _mm512_add_epi32(e.t2, f.t2); ints[3] = _mm512_add_epi32(e.t3, f.t3)
        }
    }

    /// Transposes the 16 staged rows (row r at v[r]: two blocks' 64 codes) and stores dword m — k-quad m of block b for
    /// m < 8, k-quad m − 8 of block b + 1 otherwise (when `two`) — at 64·(k-quad) of that block's panel (blockBytes each).
    @inline(__always) static func storeTwoBlocks(_ v: UnsafeMutablePointer<__m512i>, _ panel: UnsafeMutableRawPointer, _ b: Int, two: Bool,
                                                 blockBytes: Int) {
        transpose16(v, v + 16)
        let p = panel + blockBytes &* b
        for m in 0..<(two ? 16 : 8) { _mm512_storeu_si512(p + (64 &* m &+ (m < 8 ? 0 : blockBytes &- 512)), v[m]) }
    }
}
#endif
