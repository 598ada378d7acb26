// Decode dots over weights repacked four rows at a time (AVX-512 level only). The layouts (Q4_Kx4, Q5_0x4, Q4_1x4:
// the same bytes as the four rows) are described once, in SKEKernels/Interleave.swift. Each 64-byte chunk of codes
// holds 16 bytes of each row, one row per 128-bit lane, so one load feeds four rows, the activations are 16-byte
// broadcasts, and the headers (Q4_K: 6-bit scales and mins, d/dmin; Q5_0: d and the fifth bits as k-masks; Q4_1: d and
// m) are unpacked once per four rows. Q4_K: the chunk's low nibbles are values 16h…16h+15 of sub-block 2i of the four
// rows, its high nibbles those of sub-block 2i+1, a sub-block's scale spread with an in-lane byte shuffle. Q5_0 / Q4_1:
// a chunk is one block of the four rows; four blocks' sums are transposed into lanes 4r + j, where their d land.
#if arch(x86_64)
import _Builtin_intrinsics.intel
import SKECore

extension PreparedDots {
    /// Bytes of one super-block of a Q4_Kx4 group (four rows).
    public static let q4_Kx4BlockBytes = 576

    /// out[0..<4] = the four rows of the Q4_Kx4 group at `w` (super-block b at w + 576·b; `rowBytes` is the original
    /// row's, unused) against the prepared Q8_K row `a`: equal to `dotQ4_K` on each original row bit for bit (the
    /// same exact integer lanes and the same float operations, see `Q4KSums`).
    public static func dot4RowsQ4_Kx4(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 256, side = a + sidecarOffset(nb * 292)
        let low = _mm512_set1_epi8(0x0F)
        let b3f = _mm_set1_epi8(0x3F), b0f = _mm_set1_epi8(0x0F), b03 = _mm_set1_epi8(0x03)
        // vpshufb patterns: int16 element j of every 128-bit lane (row) into all eight of that lane's elements.
        @inline(__always) func element(_ j: Int16) -> __m512i { _mm512_set1_epi16((2 * j + 1) << 8 | 2 * j) }
        let e0 = element(0), e1 = element(1), e2 = element(2), e3 = element(3)
        let e4 = element(4), e5 = element(5), e6 = element(6), e7 = element(7)
        // Lane 4r+q ← [d_r·da] (dIndex) or [dmin_r·da] (mIndex) from [d0, dmin0, d1, dmin1, …].
        let dIndex = _mm512_set_epi32(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0)
        let mIndex = _mm512_set_epi32(7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3, 1, 1, 1, 1)
        var acc = _mm512_setzero_ps(), macc = _mm512_setzero_ps()
        let ahead = Prefetch(stream: w)
        for b in 0..<nb {
            let g = w + q4_Kx4BlockBytes &* b, y = a + 292 &* b + 4, rec = side + q8_KBlockBytes &* b
            ahead(q4_Kx4BlockBytes &* b, q4_Kx4BlockBytes)
            // ggml's scale unpacking (kScalesMins), four rows per 32-bit lane set.
            let u0 = ld128(g + 16), u1 = ld128(g + 32), u2 = ld128(g + 48)
            let s0 = _mm_and_si128(u0, b3f)
            let s1 = _mm_or_si128(_mm_and_si128(u2, b0f), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(u0, 6), b03), 4))
            let n0 = _mm_and_si128(u1, b3f)
            let n1 = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(u2, 4), b0f), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(u1, 6), b03), 4))
            // int16 lane 8r + j: scale (min) j of row r.
            let sc = _mm512_cvtepu8_epi16(_mm256_set_m128i(_mm_unpackhi_epi32(s0, s1), _mm_unpacklo_epi32(s0, s1)))
            let mn = _mm512_cvtepu8_epi16(_mm256_set_m128i(_mm_unpackhi_epi32(n0, n1), _mm_unpacklo_epi32(n0, n1)))
            // Σ_j m_rj·S_j (S_j int16 at rec + 304): int32 lane 4r + q holds sub-blocks 2q, 2q+1 of row r.
            let msum = _mm512_madd_epi16(mn, _mm512_broadcast_i32x4(ld128(rec + 304)))
            @inline(__always) func pair(_ i: Int, _ se: __m512i, _ so: __m512i, _ isum: __m512i) -> __m512i {
                let v0 = ld512(g + 64 + 128 &* i), v1 = ld512(g + 128 + 128 &* i), yi = y + 64 &* i
                let pe = _mm512_add_epi16(_mm512_maddubs_epi16(_mm512_and_si512(v0, low), _mm512_broadcast_i32x4(ld128(yi))),
                                          _mm512_maddubs_epi16(_mm512_and_si512(v1, low), _mm512_broadcast_i32x4(ld128(yi + 16))))
                let po = _mm512_add_epi16(_mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(v0, 4), low), _mm512_broadcast_i32x4(ld128(yi + 32))),
                                          _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(v1, 4), low), _mm512_broadcast_i32x4(ld128(yi + 48))))
                return _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(isum, pe, se), po, so)
            }
            var isum = _mm512_setzero_si512()
            isum = pair(0, _mm512_shuffle_epi8(sc, e0), _mm512_shuffle_epi8(sc, e1), isum)
            isum = pair(1, _mm512_shuffle_epi8(sc, e2), _mm512_shuffle_epi8(sc, e3), isum)
            isum = pair(2, _mm512_shuffle_epi8(sc, e4), _mm512_shuffle_epi8(sc, e5), isum)
            isum = pair(3, _mm512_shuffle_epi8(sc, e6), _mm512_shuffle_epi8(sc, e7), isum)
            let f = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtph_ps(ld128(g)), _mm256_set1_ps(a.loadUnaligned(fromByteOffset: 292 &* b, as: Float.self))))
            acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(dIndex, f), _mm512_cvtepi32_ps(isum), acc)
            macc = _mm512_fmadd_ps(_mm512_permutexvar_ps(mIndex, f), _mm512_cvtepi32_ps(msum), macc)
        }
        storeRows(_mm512_sub_ps(acc, macc), out)
    }

    /// Lane 4r + j ← Σ of lanes 4r…4r+3 of p_j (exact): four blocks' per-row sums, row r's in its 128-bit lane.
    @inline(__always) static func transposedSums(_ p0: __m512i, _ p1: __m512i, _ p2: __m512i, _ p3: __m512i) -> __m512i {
        let t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1))
        let t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3))
        return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23))
    }

    /// Lanes 4r…4r+3 of v: row r's four sums (or token r's, in `dot4Q4_K`).
    @inline(__always) static func rowLanes(_ v: __m512, _ r: Int) -> SIMD4<Float> {
        let t = unsafeBitCast(v, to: SIMD16<Float>.self)
        return SIMD4(t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3])
    }

    /// Row r's result from lanes 4r…4r+3 of the four-row sums (the one-row kernels' `laneSum`).
    @inline(__always) static func storeRows(_ acc: __m512, _ out: UnsafeMutablePointer<Float>) {
        for r in 0..<4 { out[r] = laneSum(rowLanes(acc, r)) }
    }

    /// Bytes of four blocks of a Q5_0x4 group (four rows).
    public static let q5_0x4QuadBytes = 352

    /// out[0..<4] = the four rows of the Q5_0x4 group at `w` (blocks 4u…4u+3 of the four rows at w + 352·u; k a
    /// multiple of 128; `rowBytes` unused) against the prepared Q8_0 row `a`: equal to `dotQ5_0` on each original row
    /// bit for bit (the same exact block sums and the same float operations, see Q5_0Quad). Per block j of a quad, one
    /// 64-byte load holds the four rows' 16 code bytes (one row per 128-bit lane) and the qh halves are read as k-masks;
    /// the four blocks' sums are transposed into lanes 4r + j, the layout of the group's d values.
    public static func dot4RowsQ5_0x4(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 32, quads = quadRecords(Q5_0Quad.self, a, nb)
        var acc = _mm512_setzero_ps()
        let ahead = Prefetch(stream: w)
        for u in 0..<(nb / 4) {
            let g = w + q5_0x4QuadBytes &* u, s = quads + q8_0QuadBytes &* u
            ahead(q5_0x4QuadBytes &* u, q5_0x4QuadBytes)
            // int32 lane 4r + q: row r's partial sums of block j.
            @inline(__always) func block(_ j: Int) -> __m512i {
                let (lo, hi) = q5_0Codes(ld512(g + 64 &* j), g.loadUnaligned(fromByteOffset: 256 &+ 16 &* j, as: UInt64.self),
                                         g.loadUnaligned(fromByteOffset: 264 &+ 16 &* j, as: UInt64.self))
                return quadDots(lo, hi, s + 16 &* j, s + (64 &+ 16 &* j), broadcast: true)
            }
            let i = _mm512_add_epi32(transposedSums(block(0), block(1), block(2), block(3)), _mm512_broadcast_i32x4(ld128(s + 256)))
            let scale = _mm512_mul_ps(_mm512_cvtph_ps(ld256(g + 320)), _mm512_broadcast_f32x4(ldf128(s + 272)))
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), scale, acc)
        }
        storeRows(acc, out)
    }

    /// Bytes of four blocks of a Q4_1x4 group (four rows), and of one of its last nb mod 4 blocks.
    public static let q4_1x4QuadBytes = 320, q4_1x4TailBytes = 80

    /// out[0..<4] = the four rows of the Q4_1x4 group at `w` (SKEKernels/Interleave.swift; `rowBytes` unused) against the
    /// prepared Q8_1 row `a`: equal to `dotQ4_1` on each original row bit for bit (the same exact block sums and the
    /// same float operations, see Q4_1Quad), including the last nb mod 4 blocks (lane j of each row, masked). The min
    /// terms have sums of their own (`macc`), as in the one-row kernels.
    public static func dot4RowsQ4_1x4(_ w: UnsafeRawPointer, _ rowBytes: Int, _ a: UnsafeRawPointer, _ k: Int, _ out: UnsafeMutablePointer<Float>) {
        let nb = k / 32, nq = nb / 4, quads = quadRecords(Q4_1Quad.self, a, nb), low = _mm512_set1_epi8(0x0F)
        @inline(__always) func dots(_ v: __m512i, _ la: UnsafeRawPointer, _ ha: UnsafeRawPointer) -> __m512i {
            quadDots(_mm512_and_si512(v, low), _mm512_and_si512(_mm512_srli_epi16(v, 4), low), la, ha, broadcast: true)
        }
        var acc = _mm512_setzero_ps(), macc = _mm512_setzero_ps()
        let ahead = Prefetch(stream: w)
        for u in 0..<nq {
            let g = w + q4_1x4QuadBytes &* u, s = quads + q8_1QuadBytes &* u
            ahead(q4_1x4QuadBytes &* u, q4_1x4QuadBytes)
            @inline(__always) func block(_ j: Int) -> __m512i { dots(ld512(g + 64 &* j), s + 16 &* j, s + (64 &+ 16 &* j)) }
            let i = transposedSums(block(0), block(1), block(2), block(3))
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(_mm512_cvtph_ps(ld256(g + 256)), _mm512_broadcast_f32x4(ldf128(s + 192))), acc)
            macc = _mm512_fmadd_ps(_mm512_cvtph_ps(ld256(g + 288)), _mm512_broadcast_f32x4(ldf128(s + 208)), macc)
        }
        // The last blocks, one at a time: lane 4r + j of row r (j = block mod 4), as the one-row kernels' tail.
        let rowIndex = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0)
        @inline(__always) func spread(_ p: UnsafeRawPointer) -> __m512 {   // four f16 → [h₀ ×4, h₁ ×4, h₂ ×4, h₃ ×4]
            _mm512_permutexvar_ps(rowIndex, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64(p.assumingMemoryBound(to: __m128i.self)))))
        }
        for j in 0..<(nb % 4) {
            let g = w + q4_1x4QuadBytes &* nq + q4_1x4TailBytes &* j, y = a + 36 &* (4 &* nq + j)
            let p = dots(ld512(g), y + 4, y + 20)
            // Each row's sum in all four of its lanes.
            let t = _mm512_add_epi32(_mm512_unpacklo_epi64(p, p), _mm512_unpackhi_epi64(p, p))
            let sums = _mm512_cvtepi32_ps(_mm512_add_epi32(t, _mm512_rolv_epi64(t, _mm512_set1_epi64(32))))
            let lane = __mmask16(0x1111) << j
            acc = _mm512_mask3_fmadd_ps(sums, _mm512_mul_ps(spread(g + 64), _mm512_set1_ps(h16(y, 0))), acc, lane)
            macc = _mm512_mask3_fmadd_ps(spread(g + 72), _mm512_set1_ps(h16(y, 2)), macc, lane)
        }
        for r in 0..<4 { out[r] = laneSum(rowLanes(acc, r)) + laneSum(rowLanes(macc, r)) }
    }
}
#endif
