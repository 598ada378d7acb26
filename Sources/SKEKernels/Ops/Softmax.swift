// Row-wise softmax, forward and backward.
//
// Shapes: x, y [N, C]. Forward y = softmax(x) per row (max-subtracted). Backward: dx += y⊙(dy − Σ dy⊙y).
// Saved for backward: y. Not done: masking (attention masks inside Attention), temperature (the sampler).
import RealModule

public enum Softmax {
    @inlinable @_specialize(where F == Float)
    public static func forward<F: Real & BinaryFloatingPoint>(_ x: UnsafePointer<F>, _ y: UnsafeMutablePointer<F>, rows n: Int, cols c: Int) {
        for i in 0..<n {
            let xi = x + i * c, yi = y + i * c
            var m = -F.infinity
            for j in 0..<c { m = max(m, xi[j]) }
            var s: F = 0
            for j in 0..<c { yi[j] = F.exp(xi[j] - m); s += yi[j] }
            let inv = 1 / s
            for j in 0..<c { yi[j] *= inv }
        }
    }

    @inlinable @_specialize(where F == Float)
    public static func backward<F: Real & BinaryFloatingPoint>(dy: UnsafePointer<F>, y: UnsafePointer<F>, dx: UnsafeMutablePointer<F>, rows n: Int, cols c: Int) {
        for i in 0..<n {
            let dyi = dy + i * c, yi = y + i * c, dxi = dx + i * c
            var dot: F = 0
            for j in 0..<c { dot += dyi[j] * yi[j] }
            for j in 0..<c { dxi[j] += yi[j] * (dyi[j] - dot) }
        }
    }
}
