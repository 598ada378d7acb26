// RMSNorm and LayerNorm, forward and backward (reference; generic so tests run them in Double).
//
// Shapes: x [N, C] (N = B·T rows), w [C], b [C], y [N, C].
// Saved for backward: rstd [N] (RMSNorm, LayerNorm) and mean [N] (LayerNorm).
// Backward ACCUMULATES into dx, dw, db (+=), as llm.c does, so fan-out needs no extra adds.
// RMSNorm computes (x·rstd)·w in that order, as llama.cpp's rms_norm followed by mul does.
// Not done: fusing with the following quantization/matmul (the graph's fusion pass does that).
import RealModule

public enum Norm {
    @inlinable @_specialize(where F == Float)
    public static func rmsNormForward<F: Real & BinaryFloatingPoint>(
        x: UnsafePointer<F>, weight w: UnsafePointer<F>?, y: UnsafeMutablePointer<F>, rstd: UnsafeMutablePointer<F>?,
        rows n: Int, cols c: Int, eps: F
    ) {
        for i in 0..<n {
            let xi = x + i * c, yi = y + i * c
            var ss: F = 0
            for j in 0..<c { ss += xi[j] * xi[j] }
            let r = 1 / F.sqrt(ss / F(c) + eps)
            rstd?[i] = r
            if let w { for j in 0..<c { yi[j] = (xi[j] * r) * w[j] } } else { for j in 0..<c { yi[j] = xi[j] * r } }
        }
    }

    /// dx += r·w⊙dy − r³/C·x·Σ(dy⊙w⊙x);  dw += Σ_rows dy⊙x·r.
    @inlinable @_specialize(where F == Float)
    public static func rmsNormBackward<F: Real & BinaryFloatingPoint>(
        dy: UnsafePointer<F>, x: UnsafePointer<F>, weight w: UnsafePointer<F>?, rstd: UnsafePointer<F>,
        dx: UnsafeMutablePointer<F>, dw: UnsafeMutablePointer<F>?, rows n: Int, cols c: Int
    ) {
        for i in 0..<n {
            let xi = x + i * c, dyi = dy + i * c, dxi = dx + i * c, r = rstd[i]
            var dot: F = 0
            for j in 0..<c { dot += dyi[j] * (w?[j] ?? 1) * xi[j] }
            let k = r * r * r / F(c) * dot
            for j in 0..<c {
                dxi[j] += r * dyi[j] * (w?[j] ?? 1) - k * xi[j]
                dw?[j] += dyi[j] * xi[j] * r
            }
        }
    }

    @inlinable @_specialize(where F == Float)
    public static func layerNormForward<F: Real & BinaryFloatingPoint>(
        x: UnsafePointer<F>, weight w: UnsafePointer<F>, bias b: UnsafePointer<F>?, y: UnsafeMutablePointer<F>,
        mean: UnsafeMutablePointer<F>?, rstd: UnsafeMutablePointer<F>?, rows n: Int, cols c: Int, eps: F
    ) {
        for i in 0..<n {
            let xi = x + i * c, yi = y + i * c
            var m: F = 0
            for j in 0..<c { m += xi[j] }
            m /= F(c)
            var v: F = 0
            for j in 0..<c { v += (xi[j] - m) * (xi[j] - m) }
            let r = 1 / F.sqrt(v / F(c) + eps)
            mean?[i] = m; rstd?[i] = r
            for j in 0..<c { yi[j] = (xi[j] - m) * r * w[j] + (b?[j] ?? 0) }
        }
    }

    /// dx += r·(g − mean(g) − x̂·mean(g⊙x̂)) with g = dy⊙w;  dw += Σ dy⊙x̂;  db += Σ dy.
    @inlinable @_specialize(where F == Float)
    public static func layerNormBackward<F: Real & BinaryFloatingPoint>(
        dy: UnsafePointer<F>, x: UnsafePointer<F>, weight w: UnsafePointer<F>, mean: UnsafePointer<F>, rstd: UnsafePointer<F>,
        dx: UnsafeMutablePointer<F>, dw: UnsafeMutablePointer<F>?, db: UnsafeMutablePointer<F>?, rows n: Int, cols c: Int
    ) {
        for i in 0..<n {
            let xi = x + i * c, dyi = dy + i * c, dxi = dx + i * c, m = mean[i], r = rstd[i]
            var gMean: F = 0, gxMean: F = 0
            for j in 0..<c {
                let g = dyi[j] * w[j], xh = (xi[j] - m) * r
                gMean += g; gxMean += g * xh
            }
            gMean /= F(c); gxMean /= F(c)
            for j in 0..<c {
                let xh = (xi[j] - m) * r
                dxi[j] += r * (dyi[j] * w[j] - gMean - xh * gxMean)
                dw?[j] += dyi[j] * xh
                db?[j] += dyi[j]
            }
        }
    }
}
