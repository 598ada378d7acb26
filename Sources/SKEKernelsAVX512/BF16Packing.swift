// Token packing for the AMX-BF16 prefill GEMM (SKEKernels/AMXGemm.swift), 512-bit: up to 16 tokens' rows of k floats
// → per 32-value chunk, 16 rows of value pairs × 16 tokens × 2 bf16 (the tile product's second operand). Each token's
// 32 values are rounded to bf16 exactly as `f32ToBF16` (round to nearest even, NaN kept quiet) and paired into 16
// dwords; a 16×16 dword transpose turns token rows into pair rows. Bit-identical to AMXGemm's scalar packing (test).
#if arch(x86_64)
import _Builtin_intrinsics.intel

public enum BF16Packing {
    /// 16 f32 bit patterns → their bf16 in the low 16 bits of each dword (f32ToBF16's rule).
    @inline(__always) static func bf16(_ v: __m512i) -> __m512i {
        let lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(1))
        let rounded = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16)
        let quiet = _mm512_or_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(64))
        // NaN ⇔ |u| > 0x7f800000 ⇔ 0x7f800000 − |u| < 0.
        let nan = _mm512_movepi32_mask(_mm512_sub_epi32(_mm512_set1_epi32(0x7f80_0000), _mm512_and_si512(v, _mm512_set1_epi32(0x7fff_ffff))))
        return _mm512_mask_blend_epi32(nan, rounded, quiet)
    }

    /// Tokens x[j·k ..< j·k + k] for j < count (count ≤ 16; the others are zero) → out (k/32 chunks of 512 bf16).
    public static func packTokens(_ x: UnsafePointer<Float>, _ count: Int, _ k: Int, _ out: UnsafeMutablePointer<UInt16>) {
        // packus leaves the pairs of a row in the order 0,1,8,9,2,3,10,11,…: this puts pair p back at dword p.
        let order = _mm512_set_epi32(15, 14, 11, 10, 7, 6, 3, 2, 13, 12, 9, 8, 5, 4, 1, 0)
        withUnsafeTemporaryAllocation(of: __m512i.self, capacity: 16) { buffer in
            let r = buffer.baseAddress!
            for c in 0..<(k / 32) {
                for j in 0..<16 {
                    if j < count {
                        let row = UnsafeRawPointer(x + j * k + c * 32)
                        let a = bf16(_mm512_loadu_si512(row)), b = bf16(_mm512_loadu_si512(row + 64))
                        r[j] = _mm512_permutexvar_epi32(order, _mm512_packus_epi32(a, b))
                    } else {
                        r[j] = _mm512_setzero_si512()
                    }
                }
                transpose16(r)
                let o = UnsafeMutableRawPointer(out + c * 512)
                for p in 0..<16 { _mm512_storeu_si512(o + 64 * p, r[p]) }
            }
        }
    }

    /// r[i][e] → r[e][i] for 16 registers of 16 dwords (the butterfly stages of SIMDOps.sums16).
    @inline(__always) static func transpose16(_ r: UnsafeMutablePointer<__m512i>) {
        var b = 8
        while b >= 1 {
            let (ilo, ihi) = SIMDOps.butterfly(Int32(b))
            for i in 0..<16 where i & b == 0 {
                let a = r[i], c = r[i + b]
                r[i] = _mm512_permutex2var_epi32(a, ilo, c)
                r[i + b] = _mm512_permutex2var_epi32(a, ihi, c)
            }
            b >>= 1
        }
    }
}
#endif
