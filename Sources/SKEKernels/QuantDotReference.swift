// Reference dot products: one weight row (its block format) · one activation row (the paired
// activation format, ggml's `vec_dot_type`). Integer sums per block, then one float multiply-add per
// block, as ggml's generic kernels do. Result is within 1e-6·Σ|w·x| of the exact value.
// Shapes: w blocks of k values, a blocks of k values → scalar.

extension QuantReference {
    public static func dotF32(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for i in 0..<k { s += Float(bitPattern: w.u32(4 * i)) * Float(bitPattern: a.u32(4 * i)) }
        return s
    }
    public static func dotF16(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Double = 0  // ggml sums F16 dots in ggml_float (double) in its scalar path
        for i in 0..<k { s += Double(w.f16(2 * i) * a.f16(2 * i)) }
        return Float(s)
    }
    public static func dotBF16(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Double = 0
        for i in 0..<k { s += Double(bf16ToF32(w.u16(2 * i)) * bf16ToF32(a.u16(2 * i))) }
        return Float(s)
    }

    /// Q4_0 · Q8_0
    public static func dotQ4_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 32) {
            let x = w + b * 18, y = a + b * 34
            var sumi: Int32 = 0
            for j in 0..<16 {
                let q = x.u8(2 + j)
                sumi += (Int32(q & 0xF) - 8) * Int32(y.i8(2 + j)) + (Int32(q >> 4) - 8) * Int32(y.i8(18 + j))
            }
            s += Float(sumi) * (x.f16(0) * y.f16(0))
        }
        return s
    }

    /// Q4_1 · Q8_1 (uses the activation block's stored s = d·Σq for the min term)
    public static func dotQ4_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 32) {
            let x = w + b * 20, y = a + b * 36
            var sumi: Int32 = 0
            for j in 0..<16 {
                let q = x.u8(4 + j)
                sumi += Int32(q & 0xF) * Int32(y.i8(4 + j)) + Int32(q >> 4) * Int32(y.i8(20 + j))
            }
            s += (x.f16(0) * y.f16(0)) * Float(sumi) + x.f16(2) * y.f16(2)
        }
        return s
    }

    /// Q5_0 · Q8_0
    public static func dotQ5_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 32) {
            let x = w + b * 22, y = a + b * 34, qh = x.u32(2)
            var sumi: Int32 = 0
            for j in 0..<16 {
                let q = x.u8(6 + j)
                let h0 = Int32(((qh >> UInt32(j)) << 4) & 0x10), h1 = Int32((qh >> UInt32(j + 12)) & 0x10)
                sumi += ((Int32(q & 0xF) | h0) - 16) * Int32(y.i8(2 + j)) + ((Int32(q >> 4) | h1) - 16) * Int32(y.i8(18 + j))
            }
            s += Float(sumi) * (x.f16(0) * y.f16(0))
        }
        return s
    }

    /// Q5_1 · Q8_1
    public static func dotQ5_1(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 32) {
            let x = w + b * 24, y = a + b * 36, qh = x.u32(4)
            var sumi: Int32 = 0
            for j in 0..<16 {
                let q = x.u8(8 + j)
                let h0 = Int32(((qh >> UInt32(j)) << 4) & 0x10), h1 = Int32((qh >> UInt32(j + 12)) & 0x10)
                sumi += (Int32(q & 0xF) | h0) * Int32(y.i8(4 + j)) + (Int32(q >> 4) | h1) * Int32(y.i8(20 + j))
            }
            s += (x.f16(0) * y.f16(0)) * Float(sumi) + x.f16(2) * y.f16(2)
        }
        return s
    }

    /// Q8_0 · Q8_0
    public static func dotQ8_0(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 32) {
            let x = w + b * 34, y = a + b * 34
            var sumi: Int32 = 0
            for j in 0..<32 { sumi += Int32(x.i8(2 + j)) * Int32(y.i8(2 + j)) }
            s += Float(sumi) * (x.f16(0) * y.f16(0))
        }
        return s
    }

    /// Σ of the 32 activations of sub-block j of a Q8_K block (its two 16-element sums).
    @inline(__always) static func q8KSubBlockSum(_ y: UnsafeRawPointer, _ j: Int) -> Int32 {
        Int32(Int16(littleEndian: y.loadUnaligned(fromByteOffset: 260 + 4 * j, as: Int16.self)))
            + Int32(Int16(littleEndian: y.loadUnaligned(fromByteOffset: 262 + 4 * j, as: Int16.self)))
    }

    /// Sub-block j of a Q4_K block x against its Q8_K block y: (sc·Σq·a, m·Σa), exact integers.
    @inline(__always) static func q4KSubBlock(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ j: Int) -> (scaled: Int32, min: Int32) {
        let (sc, m) = scaleMinK4(j, x + 4)
        let qs = x + 16 + (j / 2) * 32, shift: UInt8 = j % 2 == 0 ? 0 : 4
        var dot: Int32 = 0
        for l in 0..<32 { dot += Int32((qs.u8(l) >> shift) & 0xF) * Int32(y.i8(4 + 32 * j + l)) }
        return (Int32(sc) * dot, Int32(m) * q8KSubBlockSum(y, j))
    }

    /// Q4_K · Q8_K: Σ_sub d·sc·Σq·a − dmin·m·Σa (the activation's 16-element sums give Σa per sub-block).
    public static func dotQ4_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 256) {
            let x = w + b * 144, y = a + b * 292
            let d = Float(bitPattern: y.u32(0)) * x.f16(0), dmin = Float(bitPattern: y.u32(0)) * x.f16(2)
            var sumi: Int32 = 0, mins: Int32 = 0
            for j in 0..<8 {
                let (scaled, min) = q4KSubBlock(x, y, j)
                sumi += scaled
                mins += min
            }
            s += d * Float(sumi) - dmin * Float(mins)
        }
        return s
    }

    /// Q5_K · Q8_K
    public static func dotQ5_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        for b in 0..<(k / 256) {
            let x = w + b * 176, y = a + b * 292
            let d = Float(bitPattern: y.u32(0)) * x.f16(0), dmin = Float(bitPattern: y.u32(0)) * x.f16(2)
            var sumi: Int32 = 0, mins: Int32 = 0
            for j in 0..<8 {
                let (sc, m) = scaleMinK4(j, x + 4)
                let ql = x + 48 + (j / 2) * 32, shift: UInt8 = j % 2 == 0 ? 0 : 4, hbit = UInt8(1) << UInt8(j)
                var dot: Int32 = 0
                for l in 0..<32 {
                    let q = Int32((ql.u8(l) >> shift) & 0xF) + (x.u8(16 + l) & hbit != 0 ? 16 : 0)
                    dot += q * Int32(y.i8(4 + 32 * j + l))
                }
                sumi += Int32(sc) * dot
                mins += Int32(m) * q8KSubBlockSum(y, j)
            }
            s += d * Float(sumi) - dmin * Float(mins)
        }
        return s
    }

    /// Q6_K · Q8_K: Σ over 16 groups of 16: sc·Σ(q − 32)·a, times d_w·d_a.
    public static func dotQ6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ k: Int) -> Float {
        var s: Float = 0
        var q = [Int32](repeating: 0, count: 256)
        for b in 0..<(k / 256) {
            let x = w + b * 210, y = a + b * 292
            // Unpack the 6-bit values in element order (as dequantizeQ6_K lays them out).
            for half in 0..<2 {
                let ql = x + 64 * half, qh = x + 128 + 32 * half, base = 128 * half
                for l in 0..<32 {
                    let h = qh.u8(l)
                    q[base + l] = Int32((ql.u8(l) & 0xF) | ((h >> 0) & 3) << 4) - 32
                    q[base + l + 32] = Int32((ql.u8(l + 32) & 0xF) | ((h >> 2) & 3) << 4) - 32
                    q[base + l + 64] = Int32((ql.u8(l) >> 4) | ((h >> 4) & 3) << 4) - 32
                    q[base + l + 96] = Int32((ql.u8(l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
                }
            }
            var sumi: Int32 = 0
            for g in 0..<16 {
                var dot: Int32 = 0
                for l in 0..<16 { dot += q[16 * g + l] * Int32(y.i8(4 + 16 * g + l)) }
                sumi += Int32(x.i8(192 + g)) * dot
            }
            s += x.f16(208) * Float(bitPattern: y.u32(0)) * Float(sumi)
        }
        return s
    }
}
