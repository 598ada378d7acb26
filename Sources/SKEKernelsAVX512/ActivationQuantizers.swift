// 512-bit activation quantizers (AVX-512 level only): the rows decode quantizes once per token per linear,
// byte for byte what the reference quantizers in SKEKernels write (a test compares them on random rows, zero
// blocks and ties of the largest magnitude). They ran on the calling thread while the others waited, so a
// scalar loop there cost twice its share at two threads.
//
//   Q8_0 / Q8_1 (ggml-cpu's x86 rule): amax = max|x| over 32 values, id = 127/amax (0 if amax = 0),
//     q = round-half-even(x·id) saturated to int8, d = f16(amax/127), [s = f16(d·Σq)].
//   Q8_K: the first value of largest magnitude mx sets iscale = −127/mx; q = min(127, round-half-even(iscale·x));
//     16-value sums as int16; d = 1/iscale as f32.
// Rounding: vcvtps2dq under the default MXCSR mode (round to nearest even), as `Float.rounded(.toNearestOrEven)`;
// f16 by Swift's Float16 init (round to nearest even, vcvtps2ph here). Non-finite inputs are not supported by
// either side's contract (activations are finite).
#if arch(x86_64)
import _Builtin_intrinsics.intel
import SKECore

public enum ActivationQuantizers {
    @inline(__always) static func absMax(_ a: __m512, _ b: __m512) -> Float {
        let sign = _mm512_set1_ps(-0.0)
        return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, a), _mm512_andnot_ps(sign, b)))
    }

    /// 16 floats × id → 16 saturated int8 stored at p; returns their sum.
    @inline(__always) static func store16(_ x: __m512, _ id: __m512, _ p: UnsafeMutableRawPointer) -> Int32 {
        let q = _mm512_cvtps_epi32(_mm512_mul_ps(x, id))
        let b = _mm512_cvtsepi32_epi8(q)
        p.storeBytes(of: b, as: __m128i.self)
        // Σ of the saturated values (equal to Σq unless |q| > 127, which x·(127/amax) cannot reach).
        return _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(b))
    }

    @inline(__always) static func quantize8(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int, withSum: Bool) {
        let header = withSum ? 4 : 2
        for blk in 0..<(k / 32) {
            let xb = x + 32 * blk, p = y + (header + 32) * blk
            let a = _mm512_loadu_ps(xb), b = _mm512_loadu_ps(xb + 16)
            let amax = absMax(a, b)
            let d = amax / 127, id = _mm512_set1_ps(amax != 0 ? 127 / amax : 0)
            let sum = store16(a, id, p + header) + store16(b, id, p + header + 16)
            p.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
            if withSum { p.storeBytes(of: Float16(d * Float(sum)).bitPattern, toByteOffset: 2, as: UInt16.self) }
        }
    }

    public static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        quantize8(x, y, k, withSum: false)
    }

    public static func quantizeQ8_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        quantize8(x, y, k, withSum: true)
    }

    public static func quantizeQ8_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        let sign = _mm512_set1_ps(-0.0)
        for blk in 0..<(k / 256) {
            let xb = x + 256 * blk, p = y + 292 * blk
            var m = _mm512_setzero_ps()
            for g in 0..<16 { m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(xb + 16 * g))) }
            let amax = _mm512_reduce_max_ps(m)
            if amax == 0 {
                (p).initializeMemory(as: UInt8.self, repeating: 0, count: 292)
                continue
            }
            // The first value whose magnitude is amax (its sign decides the scale's, as in the scalar scan).
            var mx: Float = 0
            // (Compared as bit patterns: equal for equal magnitudes, the sign bit being cleared.)
            let target = _mm512_set1_epi32(Int32(bitPattern: amax.bitPattern))
            for g in 0..<16 {
                let diff = _mm512_xor_si512(_mm512_castps_si512(_mm512_andnot_ps(sign, _mm512_loadu_ps(xb + 16 * g))), target)
                let hits = _mm512_testn_epi32_mask(diff, diff)
                if hits != 0 { mx = xb[16 * g + hits.trailingZeroBitCount]; break }
            }
            let iscale = -127 / mx, scale = _mm512_set1_ps(iscale), top = _mm512_set1_epi32(127)
            for g in 0..<16 {
                let q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(scale, _mm512_loadu_ps(xb + 16 * g))), top)
                let b = _mm512_cvtsepi32_epi8(q)
                (p + 4 + 16 * g).storeBytes(of: b, as: __m128i.self)
                p.storeBytes(of: Int16(truncatingIfNeeded: _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(b))), toByteOffset: 260 + 2 * g, as: Int16.self)
            }
            p.storeBytes(of: 1 / iscale, as: Float.self)
        }
    }

    /// Activation format → its quantizer at this level.
    public static let table: [GGMLType: QuantizeKernel] = [
        .q8_0: .init(quantizeQ8_0), .q8_1: .init(quantizeQ8_1), .q8_K: .init(quantizeQ8_K),
    ]
}
#endif
