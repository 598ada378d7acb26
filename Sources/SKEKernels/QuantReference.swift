// Reference (scalar) quant kernels — the `_generic` path that stays forever and that every fast path is
// tested against. Block layouts are ggml's (ggml-common.h); formulas follow ggml-quants.c so results are
// bit-identical to llama.cpp / gguf-py where the tests say so.
//
// Shapes: a "row" is k values (k a multiple of the type's block size), stored as k/blockSize blocks.
//   dequantize: blocks → f32[k]        quantize: f32[k] → blocks        dot: row(W) · row(activation format)
// Not done here: SIMD (see the ISA modules), threading (see Matmul.swift), importance matrices.

/// Round half to even, as ggml's `nearest_int` (the 1.5·2^23 trick) does for |x| < 2^22. NaN → 0.
@inline(__always) func nearestInt(_ x: Float) -> Int32 {
    guard x.isFinite else { return 0 }
    let v = x.rounded(.toNearestOrEven)
    return Int32(max(-2_000_000_000, min(2_000_000_000, v)))
}

/// C's `(int)x` (truncation toward zero) without trapping on NaN or huge values.
@inline(__always) func truncInt(_ x: Float) -> Int32 {
    guard x.isFinite else { return 0 }
    return Int32(max(-2_000_000_000, min(2_000_000_000, x)))
}

/// C's `roundf` (half away from zero) as an Int32, without trapping.
@inline(__always) func roundInt(_ x: Float) -> Int32 {
    guard x.isFinite else { return 0 }
    return Int32(max(-2_000_000_000, min(2_000_000_000, x.rounded(.toNearestOrAwayFromZero))))
}

/// get_scale_min_k4: the 6-bit scale and min of sub-block j from a Q4_K/Q5_K 12-byte scales array.
@inline(__always) func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
    if j < 4 { return (q.u8(j) & 63, q.u8(j + 4) & 63) }
    let d = (q.u8(j + 4) & 0xF) | ((q.u8(j - 4) >> 6) << 4)
    let m = (q.u8(j + 4) >> 4) | ((q.u8(j) >> 6) << 4)
    return (d, m)
}

public enum QuantReference {
    // MARK: dequantize (blocks → f32), bit-exact with ggml's to_float and gguf-py

    public static func dequantizeF32(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for i in 0..<k { y[i] = Float(bitPattern: x.u32(4 * i)) }
    }
    public static func dequantizeF16(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for i in 0..<k { y[i] = x.f16(2 * i) }
    }
    public static func dequantizeBF16(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for i in 0..<k { y[i] = bf16ToF32(x.u16(2 * i)) }
    }

    /// Q4_0: f16 d, 16 bytes of nibbles; x = (q − 8)·d; low nibbles are elements 0–15, high 16–31.
    public static func dequantizeQ4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + b * 18, d = p.f16(0), o = y + b * 32
            for j in 0..<16 {
                let q = p.u8(2 + j)
                o[j] = Float(Int32(q & 0xF) - 8) * d
                o[j + 16] = Float(Int32(q >> 4) - 8) * d
            }
        }
    }

    /// Q4_1: f16 d, f16 m, 16 bytes of nibbles; x = q·d + m.
    public static func dequantizeQ4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + b * 20, d = p.f16(0), m = p.f16(2), o = y + b * 32
            for j in 0..<16 {
                let q = p.u8(4 + j)
                o[j] = Float(q & 0xF) * d + m
                o[j + 16] = Float(q >> 4) * d + m
            }
        }
    }

    /// Q5_0: f16 d, u32 qh (5th bits), 16 bytes of nibbles; x = (q − 16)·d.
    public static func dequantizeQ5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + b * 22, d = p.f16(0), qh = p.u32(2), o = y + b * 32
            for j in 0..<16 {
                let q = p.u8(6 + j)
                let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
                let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
                o[j] = Float(Int32((q & 0xF) | h0) - 16) * d
                o[j + 16] = Float(Int32((q >> 4) | h1) - 16) * d
            }
        }
    }

    /// Q5_1: f16 d, f16 m, u32 qh, 16 bytes of nibbles; x = q·d + m.
    public static func dequantizeQ5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + b * 24, d = p.f16(0), m = p.f16(2), qh = p.u32(4), o = y + b * 32
            for j in 0..<16 {
                let q = p.u8(8 + j)
                let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
                let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
                o[j] = Float((q & 0xF) | h0) * d + m
                o[j + 16] = Float((q >> 4) | h1) * d + m
            }
        }
    }

    /// Q8_0: f16 d, 32 × int8; x = q·d.
    public static func dequantizeQ8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + b * 34, d = p.f16(0), o = y + b * 32
            for j in 0..<32 { o[j] = Float(p.i8(2 + j)) * d }
        }
    }

    /// Q8_1: f16 d, f16 s (= d·Σq), 32 × int8; x = q·d.
    public static func dequantizeQ8_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 32) {
            let p = x + b * 36, d = p.f16(0), o = y + b * 32
            for j in 0..<32 { o[j] = Float(p.i8(4 + j)) * d }
        }
    }

    /// Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles; per 32: x = d·sc·q − dmin·m.
    public static func dequantizeQ4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 256) {
            let p = x + b * 144, d = p.f16(0), dmin = p.f16(2), scales = p + 4
            var q = p + 16, o = y + b * 256
            for j in stride(from: 0, to: 8, by: 2) {
                let (sc1, m1) = scaleMinK4(j, scales), (sc2, m2) = scaleMinK4(j + 1, scales)
                let d1 = d * Float(sc1), mm1 = dmin * Float(m1), d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                for l in 0..<32 { o[l] = d1 * Float(q.u8(l) & 0xF) - mm1 }
                for l in 0..<32 { o[l + 32] = d2 * Float(q.u8(l) >> 4) - mm2 }
                q += 32; o += 64
            }
        }
    }

    /// Q5_K: f16 d, f16 dmin, 12 bytes scales, 32 bytes qh, 128 bytes nibbles.
    public static func dequantizeQ5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 256) {
            let p = x + b * 176, d = p.f16(0), dmin = p.f16(2), scales = p + 4, qh = p + 16
            var ql = p + 48, o = y + b * 256
            var u1: UInt8 = 1, u2: UInt8 = 2
            for j in stride(from: 0, to: 8, by: 2) {
                let (sc1, m1) = scaleMinK4(j, scales), (sc2, m2) = scaleMinK4(j + 1, scales)
                let d1 = d * Float(sc1), mm1 = dmin * Float(m1), d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                for l in 0..<32 { o[l] = d1 * Float((ql.u8(l) & 0xF) + (qh.u8(l) & u1 != 0 ? 16 : 0)) - mm1 }
                for l in 0..<32 { o[l + 32] = d2 * Float((ql.u8(l) >> 4) + (qh.u8(l) & u2 != 0 ? 16 : 0)) - mm2 }
                ql += 32; o += 64; u1 <<= 2; u2 <<= 2
            }
        }
    }

    /// Q6_K: 128 bytes ql, 64 bytes qh, 16 × int8 scales, f16 d; x = d·sc·(q − 32), evaluated (d·sc)·q as ggml does.
    public static func dequantizeQ6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 256) {
            let p = x + b * 210, d = p.f16(208)
            var ql = p, qh = p + 128, sc = p + 192, o = y + b * 256
            for _ in 0..<2 {
                for l in 0..<32 {
                    let s = l / 16
                    let h = qh.u8(l)
                    let q1 = Int32((ql.u8(l) & 0xF) | ((h >> 0) & 3) << 4) - 32
                    let q2 = Int32((ql.u8(l + 32) & 0xF) | ((h >> 2) & 3) << 4) - 32
                    let q3 = Int32((ql.u8(l) >> 4) | ((h >> 4) & 3) << 4) - 32
                    let q4 = Int32((ql.u8(l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
                    o[l] = d * Float(sc.i8(s)) * Float(q1)
                    o[l + 32] = d * Float(sc.i8(s + 2)) * Float(q2)
                    o[l + 64] = d * Float(sc.i8(s + 4)) * Float(q3)
                    o[l + 96] = d * Float(sc.i8(s + 6)) * Float(q4)
                }
                o += 128; ql += 64; qh += 32; sc += 8
            }
        }
    }

    /// Q8_K: f32 d, 256 × int8, 16 × int16 block sums; x = q·d.
    public static func dequantizeQ8_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ k: Int) {
        for b in 0..<(k / 256) {
            let p = x + b * 292, d = Float(bitPattern: p.u32(0)), o = y + b * 256
            for j in 0..<256 { o[j] = Float(p.i8(4 + j)) * d }
        }
    }

    // MARK: quantize (f32 → blocks): ggml's reference quantizers

    public static func quantizeF32(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for i in 0..<k { y.storeF32(x[i], 4 * i) }
    }
    public static func quantizeF16(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for i in 0..<k { y.storeU16(f32ToF16(x[i]), 2 * i) }
    }
    public static func quantizeBF16(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for i in 0..<k { y.storeU16(f32ToBF16(x[i]), 2 * i) }
    }

    /// The value of largest magnitude in x[0..<n] (sign kept) and its magnitude.
    @inline(__always) static func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> (max: Float, amax: Float) {
        var amax: Float = 0, mx: Float = 0
        for j in 0..<n where amax < abs(x[j]) { amax = abs(x[j]); mx = x[j] }
        return (mx, amax)
    }

    public static func quantizeQ4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for b in 0..<(k / 32) {
            let xb = x + b * 32, p = y + b * 18
            let (mx, _) = signedAbsMax(xb, 32)
            let d = mx / -8, id: Float = d != 0 ? 1 / d : 0
            p.storeU16(f32ToF16(d), 0)
            for j in 0..<16 {
                let a = UInt8(clamping: min(15, truncInt(xb[j] * id + 8.5))), c = UInt8(clamping: min(15, truncInt(xb[16 + j] * id + 8.5)))
                p.storeBytes(of: a | (c << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    public static func quantizeQ4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for b in 0..<(k / 32) {
            let xb = x + b * 32, p = y + b * 20
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<32 { lo = min(lo, xb[j]); hi = max(hi, xb[j]) }
            let d = (hi - lo) / 15, id: Float = d != 0 ? 1 / d : 0
            p.storeU16(f32ToF16(d), 0); p.storeU16(f32ToF16(lo), 2)
            for j in 0..<16 {
                let a = UInt8(clamping: min(15, truncInt((xb[j] - lo) * id + 0.5)))
                let c = UInt8(clamping: min(15, truncInt((xb[16 + j] - lo) * id + 0.5)))
                p.storeBytes(of: a | (c << 4), toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }

    public static func quantizeQ5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for b in 0..<(k / 32) {
            let xb = x + b * 32, p = y + b * 22
            let (mx, _) = signedAbsMax(xb, 32)
            let d = mx / -16, id: Float = d != 0 ? 1 / d : 0
            p.storeU16(f32ToF16(d), 0)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let a = UInt32(clamping: min(31, truncInt(xb[j] * id + 16.5))), c = UInt32(clamping: min(31, truncInt(xb[16 + j] * id + 16.5)))
                p.storeBytes(of: UInt8((a & 0xF) | ((c & 0xF) << 4)), toByteOffset: 6 + j, as: UInt8.self)
                qh |= ((a & 0x10) >> 4) << UInt32(j)
                qh |= ((c & 0x10) >> 4) << UInt32(j + 16)
            }
            p.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }

    public static func quantizeQ5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for b in 0..<(k / 32) {
            let xb = x + b * 32, p = y + b * 24
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<32 { lo = min(lo, xb[j]); hi = max(hi, xb[j]) }
            let d = (hi - lo) / 31, id: Float = d != 0 ? 1 / d : 0
            p.storeU16(f32ToF16(d), 0); p.storeU16(f32ToF16(lo), 2)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let a = UInt32(clamping: min(31, truncInt((xb[j] - lo) * id + 0.5)))
                let c = UInt32(clamping: min(31, truncInt((xb[16 + j] - lo) * id + 0.5)))
                p.storeBytes(of: UInt8((a & 0xF) | ((c & 0xF) << 4)), toByteOffset: 8 + j, as: UInt8.self)
                qh |= ((a & 0x10) >> 4) << UInt32(j)
                qh |= ((c & 0x10) >> 4) << UInt32(j + 16)
            }
            p.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    /// The two rules ggml has for a Q8_0/Q8_1 block: its reference quantizer (id = 1/d, round half away from zero;
    /// llama-quantize's weights) and ggml-cpu's x86 activation path (quantize_row_q8_0/_1's AVX code: id = 127/amax,
    /// round half to even; what llama.cpp's matmuls quantize activations with). They part in rare last-bit cases
    /// that flip a quant, enough to move a logit by ~1e-2.
    enum Q8Rule { case reference, cpuActivation }

    /// Blocks of 32: f16 d = amax/127, [f16 s = d·Σq when `withSum` (Q8_1)], 32 × int8.
    @inline(__always)
    static func quantize8(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int, withSum: Bool, _ rule: Q8Rule) {
        let header = withSum ? 4 : 2
        for b in 0..<(k / 32) {
            let xb = x + b * 32, p = y + b * (header + 32)
            let (_, amax) = signedAbsMax(xb, 32)
            let d = amax / 127
            let id: Float = rule == .reference ? (d != 0 ? 1 / d : 0) : (amax != 0 ? 127 / amax : 0)
            var sum: Int32 = 0
            for j in 0..<32 {
                let v = xb[j] * id
                let q = Int8(clamping: rule == .reference ? roundInt(v) : Int32(v.rounded(.toNearestOrEven)))
                sum += Int32(q)
                p.storeBytes(of: q, toByteOffset: header + j, as: Int8.self)
            }
            p.storeU16(f32ToF16(d), 0)
            if withSum { p.storeU16(f32ToF16(d * Float(sum)), 2) }
        }
    }

    /// Q8_0 (weights; ggml's reference rule).
    public static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        quantize8(x, y, k, withSum: false, .reference)
    }

    /// Q8_1 (ggml's reference rule): as Q8_0 plus s = d·Σq stored as f16.
    public static func quantizeQ8_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        quantize8(x, y, k, withSum: true, .reference)
    }

    /// Q8_0 of an activation row, as ggml-cpu on x86.
    public static func quantizeActivationQ8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        quantize8(x, y, k, withSum: false, .cpuActivation)
    }

    /// Q8_1 of an activation row, as ggml-cpu on x86.
    public static func quantizeActivationQ8_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        quantize8(x, y, k, withSum: true, .cpuActivation)
    }

    /// Q8_K (activations for the k-quants): f32 d = max/−127 sign trick, nearest_int, 16-element sums.
    public static func quantizeQ8_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        for b in 0..<(k / 256) {
            let xb = x + b * 256, p = y + b * 292
            let (mx, amax) = signedAbsMax(xb, 256)
            if amax == 0 {
                p.storeF32(0, 0)
                (p + 4).initializeMemory(as: UInt8.self, repeating: 0, count: 288)
                continue
            }
            let iscale = -127 / mx
            for j in 0..<256 { p.storeBytes(of: Int8(clamping: min(127, nearestInt(iscale * xb[j]))), toByteOffset: 4 + j, as: Int8.self) }
            for g in 0..<16 {
                var s: Int32 = 0
                for j in 0..<16 { s += Int32(p.load(fromByteOffset: 4 + g * 16 + j, as: Int8.self)) }
                p.storeBytes(of: Int16(s).littleEndian, toByteOffset: 260 + 2 * g, as: Int16.self)
            }
            p.storeF32(1 / iscale, 0)
        }
    }
}
