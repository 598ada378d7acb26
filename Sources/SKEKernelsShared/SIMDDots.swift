// SIMD dot kernels (weights in their block format · activations in the paired format), written once and
// compiled twice: into SKEKernelsAVX2 (-target-cpu haswell: AVX2+FMA+F16C; the u8×s8 product is
// vpmaddubsw + vpmaddwd) and into SKEKernelsAVX512 (-target-cpu cascadelake, -D SKE_VNNI: the same
// product is one vpdpbusd). Each module's copy of this file is a symlink to
// Sources/SKEKernelsShared/SIMDDots.swift.
//
// Shapes: one row of k values (k a multiple of the block size) · one activation row → Float.
// Contract: equal to QuantReference's dot within 1e-6·Σ|w·a| (integer sums are exact; only the float
// accumulation order differs). `dot4Q6_K` takes four activation rows per call (prefill), each result equal to
// `dotQ6_K`'s bit for bit. Not done: several weight rows per call (gemv calls this per row).
#if arch(x86_64)
import _Builtin_intrinsics.intel
import SKECore

#if SKE_VNNI
public enum ISAName { public static let name = "avx512" }
/// acc + Σ₄ u8·s8 per 32-bit lane (u < 256, s any int8): one vpdpbusd. (The unmasked form is a C macro
/// Swift cannot import; an all-ones mask compiles to the same instruction.)
@inline(__always) func dotU8S8(_ acc: __m256i, _ u: __m256i, _ s: __m256i) -> __m256i { _mm256_mask_dpbusd_epi32(acc, 0xFF, u, s) }
#else
public enum ISAName { public static let name = "avx2" }
/// acc + Σ₄ u8·s8 per 32-bit lane. vpmaddubsw saturates at ±32767, so callers keep u ≤ 128 (|s| ≤ 128).
@inline(__always) func dotU8S8(_ acc: __m256i, _ u: __m256i, _ s: __m256i) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
}
#endif

/// LLVM's prefetch intrinsic (prefetcht0 here): `_mm_prefetch` is a C macro Swift cannot import.
@_silgen_name("llvm.prefetch.p0")
func llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

/// How far ahead of the current weight position the kernels prefetch. The weights stream from DRAM once
/// per token; the hardware prefetcher alone left single-thread gemv at about half the read bandwidth.
public let weightPrefetchDistance = 4096

@inline(__always) func prefetch(_ p: UnsafeRawPointer) { llvmPrefetch(p, 0, 3, 1) }

@inline(__always) func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }
@inline(__always) func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
/// f16 at p+o → Float. Through vmovd + vcvtph2ps: Swift's Float(Float16) lowers to vpinsrw, which merges into
/// a register that may hold the loop's accumulator and so chains every block behind the previous FMA.
@inline(__always) func h16(_ p: UnsafeRawPointer, _ o: Int) -> Float {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(Int32(p.loadUnaligned(fromByteOffset: o, as: UInt16.self)))))
}

/// For Q4_1/Q5_1 · Q8_1 blocks (f16 d, f16 m | f16 d, f16 s): (d_w·d_a broadcast, m_w·s_a in lane 0).
@inline(__always) func scaleAndMin(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> (__m256, __m128) {
    let fx = _mm_cvtph_ps(_mm_cvtsi32_si128(x.loadUnaligned(as: Int32.self)))  // [d_w, m_w]
    let fy = _mm_cvtph_ps(_mm_cvtsi32_si128(y.loadUnaligned(as: Int32.self)))  // [d_a, s_a]
    let prod = _mm_mul_ps(fx, fy)
    return (_mm256_broadcastss_ps(prod), _mm_movehdup_ps(prod))
}

/// d_w·d_a broadcast to 8 lanes, from two f16 scales (one vmovd, one vcvtph2ps, no false dependency).
@inline(__always) func scale8(_ w: UnsafeRawPointer, _ wo: Int, _ a: UnsafeRawPointer, _ ao: Int) -> __m256 {
    let bits = UInt32(w.loadUnaligned(fromByteOffset: wo, as: UInt16.self)) | UInt32(a.loadUnaligned(fromByteOffset: ao, as: UInt16.self)) << 16
    let f = _mm_cvtph_ps(_mm_cvtsi32_si128(Int32(bitPattern: bits)))
    return _mm256_broadcastss_ps(_mm_mul_ss(f, _mm_movehdup_ps(f)))
}

/// 16 bytes of nibbles → 32 bytes: low nibbles in lane 0 (elements 0–15), high nibbles in lane 1 (16–31).
@inline(__always) func nibbles32(_ p: UnsafeRawPointer) -> __m256i {
    let t = load128(p)
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F))
}

/// 32 bits → 32 bytes, 0xFF where the bit is set (byte i ↔ bit i).
@inline(__always) func bitsToBytes(_ x: UInt32) -> __m256i {
    let shuffle = _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0)
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(Int32(bitPattern: x)), shuffle)
    let mask = _mm256_set1_epi64x(0x7FBF_DFEF_F7FB_FDFE)
    return _mm256_cmpeq_epi8(_mm256_or_si256(bytes, mask), _mm256_set1_epi64x(-1))
}

/// Σ of the 8 int32 lanes of signed x · signed y products (|x| ≤ 128): |x| as u8 times y with x's sign.
@inline(__always) func dotS8S8(_ acc: __m256i, _ x: __m256i, _ y: __m256i) -> __m256i {
    dotU8S8(acc, _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

@inline(__always) func hsum(_ v: __m256) -> Float {
    let s = unsafeBitCast(v, to: SIMD8<Float>.self)
    let h = s.lowHalf + s.highHalf
    return (h.lowHalf + h.highHalf).sum()
}

public enum SIMDDots {
    public typealias Dot = @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float

    /// The kernels this module provides, by weight type.
    public static let table: [GGMLType: DotKernel] = [
        .f32: .init(dotF32), .f16: .init(dotF16), .bf16: .init(dotBF16), .q4_0: .init(dotQ4_0), .q4_1: .init(dotQ4_1),
        .q5_0: .init(dotQ5_0), .q5_1: .init(dotQ5_1), .q8_0: .init(dotQ8_0), .q4_K: .init(dotQ4_K), .q5_K: .init(dotQ5_K),
        .q6_K: .init(dotQ6_K),
    ]

    public static func dotF32(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        let x = w.assumingMemoryBound(to: Float.self), y = a.assumingMemoryBound(to: Float.self)
        var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps()
        var i = 0
        while i + 32 <= k {
            prefetch(UnsafeRawPointer(x + i) + weightPrefetchDistance); prefetch(UnsafeRawPointer(x + i) + weightPrefetchDistance + 64)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0)
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1)
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2)
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3)
            i += 32
        }
        while i + 8 <= k { a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0); i += 8 }
        var s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)))
        while i < k { s += x[i] * y[i]; i += 1 }
        return s
    }

    public static func dotF16(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps()
        var i = 0
        while i + 16 <= k {
            prefetch(w + 2 * i + weightPrefetchDistance)
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(w + 2 * i)), _mm256_cvtph_ps(load128(a + 2 * i)), a0)
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(w + 2 * i + 16)), _mm256_cvtph_ps(load128(a + 2 * i + 16)), a1)
            i += 16
        }
        var s = hsum(_mm256_add_ps(a0, a1))
        while i < k { s += h16(w, 2 * i) * h16(a, 2 * i); i += 1 }
        return s
    }

    /// bf16 → f32 is a 16-bit left shift: widen 8 values to 32-bit lanes, shift, FMA.
    public static func dotBF16(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps()
        @inline(__always) func widen(_ p: UnsafeRawPointer) -> __m256 { _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16)) }
        var i = 0
        while i + 16 <= k {
            prefetch(w + 2 * i + weightPrefetchDistance)
            a0 = _mm256_fmadd_ps(widen(w + 2 * i), widen(a + 2 * i), a0)
            a1 = _mm256_fmadd_ps(widen(w + 2 * i + 16), widen(a + 2 * i + 16), a1)
            i += 16
        }
        var s = hsum(_mm256_add_ps(a0, a1))
        while i < k {
            s += Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                * Float(bitPattern: UInt32(a.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            i += 1
        }
        return s
    }

    public static func dotQ8_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        for b in 0..<(k / 32) {
            let x = w + 34 * b, y = a + 34 * b
            prefetch(x + weightPrefetchDistance)
            let p = dotS8S8(_mm256_setzero_si256(), load256(x + 2), load256(y + 2))
            acc = _mm256_fmadd_ps(scale8(x, 0, y, 0), _mm256_cvtepi32_ps(p), acc)
        }
        return hsum(acc)
    }

    public static func dotQ4_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        let eight = _mm256_set1_epi8(8)
        for b in 0..<(k / 32) {
            let x = w + 18 * b, y = a + 34 * b
            prefetch(x + weightPrefetchDistance)
            let q = _mm256_sub_epi8(nibbles32(x + 2), eight)
            let p = dotS8S8(_mm256_setzero_si256(), q, load256(y + 2))
            acc = _mm256_fmadd_ps(scale8(x, 0, y, 0), _mm256_cvtepi32_ps(p), acc)
        }
        return hsum(acc)
    }

    public static func dotQ4_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        var mins = _mm_setzero_ps()
        for b in 0..<(k / 32) {
            let x = w + 20 * b, y = a + 36 * b
            prefetch(x + weightPrefetchDistance)
            let p = dotU8S8(_mm256_setzero_si256(), nibbles32(x + 4), load256(y + 4))
            let (dd, ms) = scaleAndMin(x, y)
            acc = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(p), acc)
            mins = _mm_add_ss(mins, ms)
        }
        return hsum(acc) + _mm_cvtss_f32(mins)
    }

    public static func dotQ5_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        let f0 = _mm256_set1_epi8(-16)  // 0xF0
        for b in 0..<(k / 32) {
            let x = w + 22 * b, y = a + 34 * b
            prefetch(x + weightPrefetchDistance)
            // (q | h·16) − 16 as int8: nibble | 0xF0 where the 5th bit is clear.
            let hi = _mm256_andnot_si256(bitsToBytes(x.loadUnaligned(fromByteOffset: 2, as: UInt32.self)), f0)
            let q = _mm256_or_si256(nibbles32(x + 6), hi)
            let p = dotS8S8(_mm256_setzero_si256(), q, load256(y + 2))
            acc = _mm256_fmadd_ps(scale8(x, 0, y, 0), _mm256_cvtepi32_ps(p), acc)
        }
        return hsum(acc)
    }

    public static func dotQ5_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        var mins = _mm_setzero_ps()
        let h = _mm256_set1_epi8(0x10)
        for b in 0..<(k / 32) {
            let x = w + 24 * b, y = a + 36 * b
            prefetch(x + weightPrefetchDistance)
            let hi = _mm256_and_si256(bitsToBytes(x.loadUnaligned(fromByteOffset: 4, as: UInt32.self)), h)
            let q = _mm256_or_si256(nibbles32(x + 8), hi)
            let p = dotU8S8(_mm256_setzero_si256(), q, load256(y + 4))
            let (dd, ms) = scaleAndMin(x, y)
            acc = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(p), acc)
            mins = _mm_add_ss(mins, ms)
        }
        return hsum(acc) + _mm_cvtss_f32(mins)
    }

    /// Σ_j m_j·(bsum[2j] + bsum[2j+1]) for a Q8_K block's 16 int16 sums and a Q4_K/Q5_K scales array.
    @inline(__always) static func kMins(_ scales: UnsafeRawPointer, _ bsums: UnsafeRawPointer) -> Int32 {
        var s: Int32 = 0
        for j in 0..<8 {
            let m: UInt8 = j < 4 ? scales.load(fromByteOffset: j + 4, as: UInt8.self) & 63
                : (scales.load(fromByteOffset: j + 4, as: UInt8.self) >> 4) | ((scales.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4)
            let b0 = Int32(bsums.loadUnaligned(fromByteOffset: 4 * j, as: Int16.self))
            let b1 = Int32(bsums.loadUnaligned(fromByteOffset: 4 * j + 2, as: Int16.self))
            s += Int32(m) * (b0 + b1)
        }
        return s
    }

    @inline(__always) static func kScale(_ scales: UnsafeRawPointer, _ j: Int) -> Int32 {
        j < 4 ? Int32(scales.load(fromByteOffset: j, as: UInt8.self) & 63)
            : Int32((scales.load(fromByteOffset: j + 4, as: UInt8.self) & 0xF) | ((scales.load(fromByteOffset: j - 4, as: UInt8.self) >> 6) << 4))
    }

    public static func dotQ4_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        var mins: Float = 0
        let low = _mm256_set1_epi8(0x0F)
        for b in 0..<(k / 256) {
            let x = w + 144 * b, y = a + 292 * b
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64); prefetch(x + weightPrefetchDistance + 128)
            let dy = Float(bitPattern: y.loadUnaligned(as: UInt32.self))
            var sumi = _mm256_setzero_si256()
            for pair in 0..<4 {
                let q = load256(x + 16 + 32 * pair)
                let p0 = dotU8S8(_mm256_setzero_si256(), _mm256_and_si256(q, low), load256(y + 4 + 64 * pair))
                let p1 = dotU8S8(_mm256_setzero_si256(), _mm256_and_si256(_mm256_srli_epi16(q, 4), low), load256(y + 36 + 64 * pair))
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p0, _mm256_set1_epi32(kScale(x + 4, 2 * pair))))
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p1, _mm256_set1_epi32(kScale(x + 4, 2 * pair + 1))))
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * h16(x, 0)), _mm256_cvtepi32_ps(sumi), acc)
            mins += dy * h16(x, 2) * Float(kMins(x + 4, y + 260))
        }
        return hsum(acc) - mins
    }

    public static func dotQ5_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        var mins: Float = 0
        let low = _mm256_set1_epi8(0x0F), h = _mm256_set1_epi8(0x10)
        for b in 0..<(k / 256) {
            let x = w + 176 * b, y = a + 292 * b
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64); prefetch(x + weightPrefetchDistance + 128)
            let dy = Float(bitPattern: y.loadUnaligned(as: UInt32.self))
            let qh = load256(x + 16)
            var sumi = _mm256_setzero_si256()
            for pair in 0..<4 {
                let q = load256(x + 48 + 32 * pair)
                // Bit j of qh byte l is the 5th bit of sub-block j's element l: shift it to 0x10.
                let h0 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, Int32(2 * pair)), 4), h)
                let h1 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, Int32(2 * pair + 1)), 4), h)
                let q0 = _mm256_or_si256(_mm256_and_si256(q, low), h0)
                let q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), h1)
                let p0 = dotU8S8(_mm256_setzero_si256(), q0, load256(y + 4 + 64 * pair))
                let p1 = dotU8S8(_mm256_setzero_si256(), q1, load256(y + 36 + 64 * pair))
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p0, _mm256_set1_epi32(kScale(x + 4, 2 * pair))))
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p1, _mm256_set1_epi32(kScale(x + 4, 2 * pair + 1))))
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * h16(x, 0)), _mm256_cvtepi32_ps(sumi), acc)
            mins += dy * h16(x, 2) * Float(kMins(x + 4, y + 260))
        }
        return hsum(acc) - mins
    }

    public static func dotQ6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var acc = _mm256_setzero_ps()
        let low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3)
        // Lanes 0–3 take group 2q's scale, lanes 4–7 group 2q+1's (each 32-bit lane sums 4 elements).
        let idx0 = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0), idx1 = _mm256_set_epi32(3, 3, 3, 3, 2, 2, 2, 2)
        let idx2 = _mm256_set_epi32(5, 5, 5, 5, 4, 4, 4, 4), idx3 = _mm256_set_epi32(7, 7, 7, 7, 6, 6, 6, 6)
        for b in 0..<(k / 256) {
            let x = w + 210 * b, y = a + 292 * b
            prefetch(x + weightPrefetchDistance); prefetch(x + weightPrefetchDistance + 64)
            prefetch(x + weightPrefetchDistance + 128); prefetch(x + weightPrefetchDistance + 192)
            var sb = _mm256_setzero_ps()
            for half in 0..<2 {
                let ql0 = load256(x + 64 * half), ql1 = load256(x + 64 * half + 32), qh = load256(x + 128 + 32 * half)
                let sc = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((x + 192 + 8 * half).assumingMemoryBound(to: __m128i.self))))
                let ya = y + 4 + 128 * half
                let q1 = _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4))
                let q2 = _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4))
                let q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4))
                let q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4))
                let p1 = _mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), q1, load256(ya)))
                let p2 = _mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), q2, load256(ya + 32)))
                let p3 = _mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), q3, load256(ya + 64)))
                let p4 = _mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), q4, load256(ya + 96)))
                sb = _mm256_fmadd_ps(p1, _mm256_permutevar8x32_ps(sc, idx0), sb)
                sb = _mm256_fmadd_ps(p2, _mm256_permutevar8x32_ps(sc, idx1), sb)
                sb = _mm256_fmadd_ps(p3, _mm256_permutevar8x32_ps(sc, idx2), sb)
                sb = _mm256_fmadd_ps(p4, _mm256_permutevar8x32_ps(sc, idx3), sb)
            }
            // Σ(q − 32)·y = Σq·y − 32·Σ_g sc_g·(Σ of group g's activations) — the Q8_K block sums.
            let sc16 = _mm256_cvtepi8_epi16(load128(x + 192))
            let corr = _mm256_cvtepi32_ps(_mm256_madd_epi16(load256(y + 260), sc16))
            let d = h16(x, 208) * Float(bitPattern: y.loadUnaligned(as: UInt32.self))
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_fmadd_ps(corr, _mm256_set1_ps(-32), sb), acc)
        }
        return hsum(acc)
    }

    /// `dotQ6_K` for four activation rows at once (row i at a + i·stride; prefill): each super-block's 6-bit codes and
    /// scales are unpacked once for the four tokens. out[i·outStride] equals dotQ6_K(w, a + i·stride, k) bit for bit.
    public static func dot4Q6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ stride: Int, _ k: Int, _ out: UnsafeMutablePointer<Float>, _ outStride: Int) {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps()
        let low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3)
        let idx0 = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0), idx1 = _mm256_set_epi32(3, 3, 3, 3, 2, 2, 2, 2)
        let idx2 = _mm256_set_epi32(5, 5, 5, 5, 4, 4, 4, 4), idx3 = _mm256_set_epi32(7, 7, 7, 7, 6, 6, 6, 6)
        for b in 0..<(k / 256) {
            let x = w + 210 * b
            // The two halves' codes and per-lane scales, unpacked once.
            @inline(__always) func codes(_ half: Int) -> (__m256i, __m256i, __m256i, __m256i, __m256, __m256, __m256, __m256) {
                let ql0 = load256(x + 64 * half), ql1 = load256(x + 64 * half + 32), qh = load256(x + 128 + 32 * half)
                let sc = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((x + 192 + 8 * half).assumingMemoryBound(to: __m128i.self))))
                return (_mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4)),
                        _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4)),
                        _mm256_permutevar8x32_ps(sc, idx0), _mm256_permutevar8x32_ps(sc, idx1),
                        _mm256_permutevar8x32_ps(sc, idx2), _mm256_permutevar8x32_ps(sc, idx3))
            }
            let h0 = codes(0), h1 = codes(1)
            let sc16 = _mm256_cvtepi8_epi16(load128(x + 192)), hd = h16(x, 208)
            @inline(__always) func token(_ y: UnsafeRawPointer, _ acc: inout __m256) {
                var sb = _mm256_setzero_ps()
                @inline(__always) func half(_ c: (__m256i, __m256i, __m256i, __m256i, __m256, __m256, __m256, __m256), _ ya: UnsafeRawPointer) {
                    sb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), c.0, load256(ya))), c.4, sb)
                    sb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), c.1, load256(ya + 32))), c.5, sb)
                    sb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), c.2, load256(ya + 64))), c.6, sb)
                    sb = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dotU8S8(_mm256_setzero_si256(), c.3, load256(ya + 96))), c.7, sb)
                }
                half(h0, y + 4); half(h1, y + 132)
                let corr = _mm256_cvtepi32_ps(_mm256_madd_epi16(load256(y + 260), sc16))
                let d = hd * Float(bitPattern: y.loadUnaligned(as: UInt32.self))
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_fmadd_ps(corr, _mm256_set1_ps(-32), sb), acc)
            }
            let o = 292 * b
            token(a + o, &acc0); token(a + stride + o, &acc1); token(a + 2 * stride + o, &acc2); token(a + 3 * stride + o, &acc3)
        }
        out[0] = hsum(acc0); out[outStride] = hsum(acc1); out[2 * outStride] = hsum(acc2); out[3 * outStride] = hsum(acc3)
    }

    /// Weight type → the four-token dot over standard activation rows (types without a prepared path).
    public static let table4: [GGMLType: Dot4Kernel] = [.q6_K: .init(dot4Q6_K)]
}
#endif
