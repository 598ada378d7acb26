// K-quant quantizers (Q4_K, Q5_K, Q6_K): ggml's reference algorithms — per-sub-block scale (and min)
// fitted by weighted least squares over a small grid of candidate scales (make_qkx2_quants /
// make_qx_quants), then 6/8-bit quantization of the scales themselves.
// Shapes: x f32[k], k a multiple of 256 → k/256 blocks. No importance matrix (ggml's `_ref` path).

let groupMaxEps: Float = 1e-15

/// Fits scale and min for n values in 0...nmax (weighted). Returns (scale, −min); L receives the levels.
func makeQKX2Quants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                    _ L: UnsafeMutablePointer<UInt8>, _ laux: UnsafeMutablePointer<UInt8>,
                    rmin: Float, rdelta: Float, nstep: Int) -> (scale: Float, negMin: Float) {
    var lo = x[0], hi = x[0]
    var sumW = weights[0], sumX = sumW * x[0]
    for i in 1..<n {
        lo = min(lo, x[i]); hi = max(hi, x[i])
        sumW += weights[i]; sumX += weights[i] * x[i]
    }
    if lo > 0 { lo = 0 }
    if hi == lo {
        for i in 0..<n { L[i] = 0 }
        return (0, -lo)
    }
    var iscale = Float(nmax) / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
        L[i] = UInt8(l)
        let diff = scale * Float(l) + lo - x[i]
        bestError += weights[i] * (diff * diff)   // ggml: diff = diff·diff; error += w·diff (this rounding order)
    }
    guard nstep >= 1 else { return (scale, -lo) }
    for step in 0...nstep {
        iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (hi - lo)
        var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
        for i in 0..<n {
            let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
            laux[i] = UInt8(l)
            let w = weights[i], fl = Float(l)
            sumL += w * fl; sumL2 += w * fl * fl; sumXL += w * fl * x[i]
        }
        let D = sumW * sumL2 - sumL * sumL
        if D > 0 {
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            if thisMin > 0 { thisMin = 0; thisScale = sumXL / sumL2 }
            var err: Float = 0
            for i in 0..<n {
                let diff = thisScale * Float(laux[i]) + thisMin - x[i]
                err += weights[i] * (diff * diff)
            }
            if err < bestError {
                for i in 0..<n { L[i] = laux[i] }
                bestError = err; scale = thisScale; lo = thisMin
            }
        }
    }
    return (scale, -lo)
}

/// Symmetric fit of n values to −nmax…nmax−1 with weights x² (rmse_type 1). Returns the scale; L = level + nmax.
func makeQXQuants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<UInt8>) -> Float {
    var mx: Float = 0, amax: Float = 0
    for i in 0..<n where abs(x[i]) > amax { amax = abs(x[i]); mx = x[i] }
    if amax < groupMaxEps {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    var iscale = -Float(nmax) / mx
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
        L[i] = UInt8(l + nmax)
        let w = x[i] * x[i], fl = Float(l)
        sumLX += w * x[i] * fl; sumL2 += w * fl * fl
    }
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for step in -9...9 where step != 0 {
        iscale = -(Float(nmax) + 0.1 * Float(step)) / mx
        sumLX = 0; sumL2 = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl; sumL2 += w * fl * fl
        }
        if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
            for i in 0..<n { L[i] = UInt8(nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))) }
            scale = sumLX / sumL2; best = scale * sumLX
        }
    }
    return scale
}

extension QuantReference {
    /// Shared by Q4_K and Q5_K: fit 8 sub-blocks of 32, pack 6-bit scales/mins, return levels in L[256].
    static func fitK(_ xb: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, nmax: Int32, rmin: Float, nstep: Int,
                     _ L: UnsafeMutablePointer<UInt8>) {
        var scales = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
        var weights = [Float](repeating: 0, count: 32), laux = [UInt8](repeating: 0, count: 32)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let s = xb + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += s[l] * s[l] }
            let avX = (sumX2 / 32).squareRoot()
            for l in 0..<32 { weights[l] = avX + abs(s[l]) }
            let (sc, m) = weights.withUnsafeBufferPointer { w in
                laux.withUnsafeMutableBufferPointer { la in
                    makeQKX2Quants(32, nmax, s, w.baseAddress!, L + 32 * j, la.baseAddress!, rmin: rmin, rdelta: 0.1, nstep: nstep)
                }
            }
            scales[j] = sc; mins[j] = m
            maxScale = max(maxScale, sc); maxMin = max(maxMin, m)
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0, invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        let sp = p + 4
        sp.initializeMemory(as: UInt8.self, repeating: 0, count: 12)
        for j in 0..<8 {
            let ls = UInt8(clamping: min(63, max(0, nearestInt(invScale * scales[j]))))
            let lm = UInt8(clamping: min(63, max(0, nearestInt(invMin * mins[j]))))
            if j < 4 {
                sp.storeBytes(of: ls, toByteOffset: j, as: UInt8.self)
                sp.storeBytes(of: lm, toByteOffset: j + 4, as: UInt8.self)
            } else {
                sp.storeBytes(of: (ls & 0xF) | ((lm & 0xF) << 4), toByteOffset: j + 4, as: UInt8.self)
                sp.storeBytes(of: sp.load(fromByteOffset: j - 4, as: UInt8.self) | ((ls >> 4) << 6), toByteOffset: j - 4, as: UInt8.self)
                sp.storeBytes(of: sp.load(fromByteOffset: j, as: UInt8.self) | ((lm >> 4) << 6), toByteOffset: j, as: UInt8.self)
            }
        }
        p.storeU16(f32ToF16(maxScale / 63), 0)
        p.storeU16(f32ToF16(maxMin / 63), 2)
        let d = UnsafeRawPointer(p).f16(0), dmin = UnsafeRawPointer(p).f16(2)
        for j in 0..<8 {
            let (sc, m) = scaleMinK4(j, UnsafeRawPointer(sp))
            let dj = d * Float(sc)
            if dj == 0 { continue }
            let dm = dmin * Float(m)
            for i in 0..<32 { L[32 * j + i] = UInt8(max(0, min(nmax, nearestInt((xb[32 * j + i] + dm) / dj)))) }
        }
    }

    public static func quantizeQ4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        var L = [UInt8](repeating: 0, count: 256)
        for b in 0..<(k / 256) {
            let xb = x + b * 256, p = y + b * 144
            L.withUnsafeMutableBufferPointer { l in
                fitK(xb, p, nmax: 15, rmin: -1, nstep: 20, l.baseAddress!)
                var q = p + 16
                for j in stride(from: 0, to: 256, by: 64) {
                    for i in 0..<32 { q.storeBytes(of: l[j + i] | (l[j + i + 32] << 4), toByteOffset: i, as: UInt8.self) }
                    q += 32
                }
            }
        }
    }

    public static func quantizeQ5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        var L = [UInt8](repeating: 0, count: 256)
        for b in 0..<(k / 256) {
            let xb = x + b * 256, p = y + b * 176
            L.withUnsafeMutableBufferPointer { l in
                fitK(xb, p, nmax: 31, rmin: -0.5, nstep: 15, l.baseAddress!)
                let qh = p + 16
                qh.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
                var ql = p + 48
                var m1: UInt8 = 1, m2: UInt8 = 2
                for n in stride(from: 0, to: 256, by: 64) {
                    for j in 0..<32 {
                        var l1 = l[n + j], l2 = l[n + j + 32]
                        var h = qh.load(fromByteOffset: j, as: UInt8.self)
                        if l1 > 15 { l1 -= 16; h |= m1 }
                        if l2 > 15 { l2 -= 16; h |= m2 }
                        qh.storeBytes(of: h, toByteOffset: j, as: UInt8.self)
                        ql.storeBytes(of: l1 | (l2 << 4), toByteOffset: j, as: UInt8.self)
                    }
                    m1 <<= 2; m2 <<= 2; ql += 32
                }
            }
        }
    }

    public static func quantizeQ6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ k: Int) {
        var L = [UInt8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        for b in 0..<(k / 256) {
            let xb = x + b * 256, p = y + b * 210
            L.withUnsafeMutableBufferPointer { l in
                var maxScale: Float = 0, maxAbs: Float = 0
                for ib in 0..<16 {
                    let s = makeQXQuants(16, 32, xb + 16 * ib, l.baseAddress! + 16 * ib)
                    scales[ib] = s
                    if abs(s) > maxAbs { maxAbs = abs(s); maxScale = s }
                }
                if maxAbs < groupMaxEps {
                    p.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                    return
                }
                let iscale = -128 / maxScale
                p.storeU16(f32ToF16(1 / iscale), 208)
                for ib in 0..<16 { p.storeBytes(of: Int8(clamping: min(127, nearestInt(iscale * scales[ib]))), toByteOffset: 192 + ib, as: Int8.self) }
                let d0 = UnsafeRawPointer(p).f16(208)
                for j in 0..<16 {
                    let d = d0 * Float(p.load(fromByteOffset: 192 + j, as: Int8.self))
                    if d == 0 { continue }
                    for i in 0..<16 { l[16 * j + i] = UInt8(max(-32, min(31, nearestInt(xb[16 * j + i] / d))) + 32) }
                }
                var ql = p, qh = p + 128
                for j in stride(from: 0, to: 256, by: 128) {
                    for i in 0..<32 {
                        let q1 = l[j + i] & 0xF, q2 = l[j + i + 32] & 0xF, q3 = l[j + i + 64] & 0xF, q4 = l[j + i + 96] & 0xF
                        ql.storeBytes(of: q1 | (q3 << 4), toByteOffset: i, as: UInt8.self)
                        ql.storeBytes(of: q2 | (q4 << 4), toByteOffset: i + 32, as: UInt8.self)
                        let h = (l[j + i] >> 4) | ((l[j + i + 32] >> 4) << 2) | ((l[j + i + 64] >> 4) << 4) | ((l[j + i + 96] >> 4) << 6)
                        qh.storeBytes(of: h, toByteOffset: i, as: UInt8.self)
                    }
                    ql += 64; qh += 32
                }
            }
        }
    }
}
