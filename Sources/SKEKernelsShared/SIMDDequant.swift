// SIMD dequantizers (blocks → f32), written once and compiled into SKEKernelsAVX2 and SKEKernelsAVX512
// (this file is symlinked into both). They feed the SGEMM path of prefill, which dequantizes every weight
// block once per batch while packing (Sgemm.RowLoader).
//
// Shapes: one row of k values (k a multiple of the block size) → k floats.
// Contract: bit-identical to QuantReference's dequantizers — the same integer code, the same float
// operations in the same order (a product, then an add or subtract; never fused).
// 128-bit integer ops and 256-bit float ops only: both builds have them, and the immediate-operand
// intrinsics Swift cannot import (byte shifts, lane extracts) are not needed.
#if arch(x86_64)
import _Builtin_intrinsics.intel
import SKECore

public enum SIMDDequant {
    enum Affine { case scale, scaleAdd, scaleSub }

    @inline(__always) static func ld128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }

    /// o[0..<8] = Float(b[0..<8])·d (then + m or − m); b's low 8 bytes, as signed or unsigned integers.
    @inline(__always) static func put8(_ b: __m128i, _ signed: Bool, _ d: __m256, _ m: __m256, _ f: Affine, _ o: UnsafeMutablePointer<Float>) {
        let x = _mm256_mul_ps(_mm256_cvtepi32_ps(signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b)), d)
        switch f {
        case .scale: _mm256_storeu_ps(o, x)
        case .scaleAdd: _mm256_storeu_ps(o, _mm256_add_ps(x, m))
        case .scaleSub: _mm256_storeu_ps(o, _mm256_sub_ps(x, m))
        }
    }

    /// o[0..<16] from the 16 bytes of b.
    @inline(__always) static func put16(_ b: __m128i, _ signed: Bool, _ d: __m256, _ m: __m256, _ f: Affine, _ o: UnsafeMutablePointer<Float>) {
        put8(b, signed, d, m, f, o)
        put8(_mm_unpackhi_epi64(b, b), signed, d, m, f, o + 8)
    }

    @inline(__always) static func low4(_ b: __m128i) -> __m128i { _mm_and_si128(b, _mm_set1_epi8(0x0F)) }
    @inline(__always) static func high4(_ b: __m128i) -> __m128i { _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0F)) }

    /// Byte i = 0x10 where bit i of the 16-bit `bits` is set, else 0 (the fifth bits of Q5_0/Q5_1).
    @inline(__always) static func fifthBits(_ bits: UInt32) -> __m128i {
        let spread = _mm_shuffle_epi8(_mm_cvtsi32_si128(Int32(bitPattern: bits)), _mm_set_epi8(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0))
        let select = _mm_set_epi8(-128, 64, 32, 16, 8, 4, 2, 1, -128, 64, 32, 16, 8, 4, 2, 1)
        return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(spread, select), select), _mm_set1_epi8(0x10))
    }

    @inline(__always) static func f16(_ p: UnsafeRawPointer, _ o: Int) -> Float { h16(p, o) }
    @inline(__always) static func splat(_ x: Float) -> __m256 { _mm256_set1_ps(x) }

    public static func dequantizeF16(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        var i = 0
        while i + 8 <= k { _mm256_storeu_ps(y + i, _mm256_cvtph_ps(ld128(x + 2 * i))); i += 8 }
        while i < k { y[i] = h16(x, 2 * i); i += 1 }
    }

    public static func dequantizeQ4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        let eight = _mm_set1_epi8(8), zero = _mm256_setzero_ps()
        for b in 0..<(k / 32) {
            let p = x + 18 * b, d = splat(f16(p, 0)), q = ld128(p + 2), o = y + 32 * b
            put16(_mm_sub_epi8(low4(q), eight), true, d, zero, .scale, o)
            put16(_mm_sub_epi8(high4(q), eight), true, d, zero, .scale, o + 16)
        }
    }

    public static func dequantizeQ4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + 20 * b
            q4_1Block(f16(p, 0), f16(p, 2), p + 4, y + 32 * b)
        }
    }

    /// One Q4_1 block: d, m and its 16 code bytes at q.
    @inline(__always) static func q4_1Block(_ d: Float, _ m: Float, _ q: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = splat(d), m = splat(m), q = ld128(q)
        put16(low4(q), false, d, m, .scaleAdd, o)
        put16(high4(q), false, d, m, .scaleAdd, o + 16)
    }

    /// `count` blocks of row `lane` of a Q4_1x4 group of rows of `rowBytes` (SKEKernels/Interleave.swift), from block
    /// `first`: the values `dequantizeQ4_1` gives for that row, bit for bit, read in place.
    public static func dequantizeQ4_1x4(_ group: UnsafeRawPointer, _ rowBytes: Int, _ lane: Int, _ first: Int, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        let nq = rowBytes / 20 / 4
        for i in 0..<count {
            let b = first + i
            if b < 4 * nq {
                let g = group + 320 * (b / 4), j = b % 4
                q4_1Block(f16(g, 256 + 2 * (4 * lane + j)), f16(g, 288 + 2 * (4 * lane + j)), g + 64 * j + 16 * lane, y + 32 * i)
            } else {
                let g = group + 320 * nq + 80 * (b - 4 * nq)
                q4_1Block(f16(g, 64 + 2 * lane), f16(g, 72 + 2 * lane), g + 16 * lane, y + 32 * i)
            }
        }
    }

    public static func dequantizeQ5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + 22 * b
            q5_0Block(f16(p, 0), p.loadUnaligned(fromByteOffset: 2, as: UInt32.self), p + 6, y + 32 * b)
        }
    }

    /// One Q5_0 block: d, its qh word and its 16 code bytes at q.
    @inline(__always) static func q5_0Block(_ d: Float, _ qh: UInt32, _ q: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let sixteen = _mm_set1_epi8(16), zero = _mm256_setzero_ps(), d = splat(d), q = ld128(q)
        put16(_mm_sub_epi8(_mm_or_si128(low4(q), fifthBits(qh & 0xFFFF)), sixteen), true, d, zero, .scale, o)
        put16(_mm_sub_epi8(_mm_or_si128(high4(q), fifthBits(qh >> 16)), sixteen), true, d, zero, .scale, o + 16)
    }

    /// `count` blocks of row `lane` of a Q5_0x4 group (SKEKernels/Interleave.swift; rowBytes unused), from block `first`: the values
    /// `dequantizeQ5_0` gives for that row, bit for bit, read in place.
    public static func dequantizeQ5_0x4(_ group: UnsafeRawPointer, _ rowBytes: Int, _ lane: Int, _ first: Int, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let b = first + i, g = group + 352 * (b / 4), j = b % 4
            let qh = UInt32(g.loadUnaligned(fromByteOffset: 256 + 16 * j + 2 * lane, as: UInt16.self))
                | UInt32(g.loadUnaligned(fromByteOffset: 264 + 16 * j + 2 * lane, as: UInt16.self)) << 16
            q5_0Block(f16(g, 320 + 2 * (4 * lane + j)), qh, g + 64 * j + 16 * lane, y + 32 * i)
        }
    }

    public static func dequantizeQ5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + 24 * b, d = splat(f16(p, 0)), m = splat(f16(p, 2)), qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            let q = ld128(p + 8), o = y + 32 * b
            put16(_mm_or_si128(low4(q), fifthBits(qh & 0xFFFF)), false, d, m, .scaleAdd, o)
            put16(_mm_or_si128(high4(q), fifthBits(qh >> 16)), false, d, m, .scaleAdd, o + 16)
        }
    }

    public static func dequantizeQ8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        let zero = _mm256_setzero_ps()
        for b in 0..<(k / 32) {
            let p = x + 34 * b, d = splat(f16(p, 0)), o = y + 32 * b
            put16(ld128(p + 2), true, d, zero, .scale, o)
            put16(ld128(p + 18), true, d, zero, .scale, o + 16)
        }
    }

    /// The j-th (scale, min) pair of a Q4_K/Q5_K super-block's 12 packed bytes (ggml's get_scale_min_k4).
    @inline(__always) static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
        let b = { (i: Int) in q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (Float(b(j) & 63), Float(b(j + 4) & 63)) }
        return (Float((b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4)), Float((b(j + 4) >> 4) | ((b(j) >> 6) << 4)))
    }

    public static func dequantizeQ4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 256) {
            let p = x + 144 * b
            q4KBlock(dm: p, scales: p + 4, codes: p + 16, stride: 16, y + 256 * b)
        }
    }

    /// One Q4_K super-block: (d, dmin) f16 at dm, its 12 scale bytes at scales, its eight 16-byte code runs at
    /// codes + stride·c (c = 0…7: 16 contiguous in a Q4_K row, 64 apart in a Q4_Kx4 group).
    @inline(__always) static func q4KBlock(dm: UnsafeRawPointer, scales: UnsafeRawPointer, codes: UnsafeRawPointer, stride: Int,
                                           _ o: UnsafeMutablePointer<Float>) {
        let d = f16(dm, 0), dmin = f16(dm, 2)
        for jj in 0..<4 {
            let (s1, m1) = scaleMin(2 * jj, scales), (s2, m2) = scaleMin(2 * jj + 1, scales)
            let q = codes + 2 * stride * jj, oj = o + 64 * jj
            let d1 = splat(d * s1), mm1 = splat(dmin * m1), d2 = splat(d * s2), mm2 = splat(dmin * m2)
            let q0 = ld128(q), q1 = ld128(q + stride)
            put16(low4(q0), false, d1, mm1, .scaleSub, oj); put16(low4(q1), false, d1, mm1, .scaleSub, oj + 16)
            put16(high4(q0), false, d2, mm2, .scaleSub, oj + 32); put16(high4(q1), false, d2, mm2, .scaleSub, oj + 48)
        }
    }

    /// `count` super-blocks of row `lane` of a Q4_Kx4 group (SKEKernels/Interleave.swift; rowBytes unused), from super-block `first`:
    /// the values `dequantizeQ4_K` gives for that row, bit for bit, read in place (no unpacked copy).
    public static func dequantizeQ4_Kx4(_ group: UnsafeRawPointer, _ rowBytes: Int, _ lane: Int, _ first: Int, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        var scales = (UInt32(0), UInt32(0), UInt32(0))
        for b in 0..<count {
            let g = group + 576 * (first + b)
            scales = (g.loadUnaligned(fromByteOffset: 16 + 4 * lane, as: UInt32.self), g.loadUnaligned(fromByteOffset: 32 + 4 * lane, as: UInt32.self),
                      g.loadUnaligned(fromByteOffset: 48 + 4 * lane, as: UInt32.self))
            withUnsafeBytes(of: &scales) { q4KBlock(dm: g + 4 * lane, scales: $0.baseAddress!, codes: g + 64 + 16 * lane, stride: 64, y + 256 * b) }
        }
    }

    public static func dequantizeQ5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        let one = _mm_set1_epi8(1)
        for b in 0..<(k / 256) {
            let p = x + 176 * b, d = f16(p, 0), dmin = f16(p, 2)
            let h0 = ld128(p + 16), h1 = ld128(p + 32)
            for jj in 0..<4 {
                let (s1, m1) = scaleMin(2 * jj, p + 4), (s2, m2) = scaleMin(2 * jj + 1, p + 4)
                let q = p + 48 + 32 * jj, o = y + 256 * b + 64 * jj
                let d1 = splat(d * s1), mm1 = splat(dmin * m1), d2 = splat(d * s2), mm2 = splat(dmin * m2)
                // Bit 2·jj of qh[l] is element l's fifth bit in the first 32, bit 2·jj + 1 in the second.
                @inline(__always) func fifth(_ h: __m128i, _ bit: Int32) -> __m128i {
                    _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, bit), one), 4)
                }
                let q0 = ld128(q), q1 = ld128(q + 16), lo = Int32(2 * jj), hi = Int32(2 * jj + 1)
                put16(_mm_or_si128(low4(q0), fifth(h0, lo)), false, d1, mm1, .scaleSub, o)
                put16(_mm_or_si128(low4(q1), fifth(h1, lo)), false, d1, mm1, .scaleSub, o + 16)
                put16(_mm_or_si128(high4(q0), fifth(h0, hi)), false, d2, mm2, .scaleSub, o + 32)
                put16(_mm_or_si128(high4(q1), fifth(h1, hi)), false, d2, mm2, .scaleSub, o + 48)
            }
        }
    }

    public static func dequantizeQ6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        let mask = _mm_set1_epi8(0x30), bias = _mm_set1_epi8(32), zero = _mm256_setzero_ps()
        for b in 0..<(k / 256) {
            let p = x + 210 * b, d = f16(p, 208)
            for half in 0..<2 {
                let ql = p + 64 * half, qh = p + 128 + 32 * half, sc = p + 192 + 8 * half, o = y + 256 * b + 128 * half
                // Elements l, l+32, l+64, l+96 (l < 32) take 4 bits from ql and 2 from qh[l]; 16 elements per scale.
                for g in 0..<2 {
                    let a = ld128(ql + 16 * g), c = ld128(ql + 32 + 16 * g), h = ld128(qh + 16 * g)
                    let q1 = _mm_or_si128(low4(a), _mm_and_si128(_mm_slli_epi16(h, 4), mask))
                    let q2 = _mm_or_si128(low4(c), _mm_and_si128(_mm_slli_epi16(h, 2), mask))
                    let q3 = _mm_or_si128(high4(a), _mm_and_si128(h, mask))
                    let q4 = _mm_or_si128(high4(c), _mm_and_si128(_mm_srli_epi16(h, 2), mask))
                    @inline(__always) func put(_ q: __m128i, _ i: Int) {
                        let s = d * Float(sc.load(fromByteOffset: g + 2 * i, as: Int8.self))
                        put16(_mm_sub_epi8(q, bias), true, splat(s), zero, .scale, o + 32 * i + 16 * g)
                    }
                    put(q1, 0); put(q2, 1); put(q3, 2); put(q4, 3)
                }
            }
        }
    }

    /// Weight type → fast dequantizer (types not listed use the reference).
    public static let table: [GGMLType: DequantizeKernel] = [
        .f16: .init(dequantizeF16), .q4_0: .init(dequantizeQ4_0), .q4_1: .init(dequantizeQ4_1), .q5_0: .init(dequantizeQ5_0),
        .q5_1: .init(dequantizeQ5_1), .q8_0: .init(dequantizeQ8_0), .q4_K: .init(dequantizeQ4_K), .q5_K: .init(dequantizeQ5_K),
        .q6_K: .init(dequantizeQ6_K),
    ]
}
#endif
