// Float matmul for training (the "linear" layer y = x·Wᵀ), forward and the two backward products,
// without materialising transposes.
//
// Shapes: x [N, K], W [M, K] (PyTorch's Linear layout: out × in), y [N, M].
//   forward : y[n, m]  = Σ_k x[n, k]·W[m, k]
//   backward: dx[n, k] += Σ_m dy[n, m]·W[m, k]        (dX = dY·W)
//             dW[m, k] += Σ_n dy[n, m]·x[n, k]        (dW = dYᵀ·X)
// Reference loops, generic so tests run them in Double. Not done: packing/tiling (the fast sgemm is a
// separate kernel), bf16 storage.
import RealModule

public enum LinearF32 {
    @inlinable @_specialize(where F == Float)
    public static func forward<F: Real & BinaryFloatingPoint>(x: UnsafePointer<F>, w: UnsafePointer<F>, bias: UnsafePointer<F>?,
                                                               y: UnsafeMutablePointer<F>, rows n: Int, inputs k: Int, outputs m: Int) {
        for i in 0..<n {
            let xi = x + i * k
            for o in 0..<m {
                let wo = w + o * k
                var s: F = bias?[o] ?? 0
                for j in 0..<k { s += xi[j] * wo[j] }
                y[i * m + o] = s
            }
        }
    }

    @inlinable @_specialize(where F == Float)
    public static func backward<F: Real & BinaryFloatingPoint>(dy: UnsafePointer<F>, x: UnsafePointer<F>, w: UnsafePointer<F>,
                                                                dx: UnsafeMutablePointer<F>?, dw: UnsafeMutablePointer<F>?, dbias: UnsafeMutablePointer<F>?,
                                                                rows n: Int, inputs k: Int, outputs m: Int) {
        for i in 0..<n {
            let dyi = dy + i * m, xi = x + i * k
            for o in 0..<m {
                let g = dyi[o]
                dbias?[o] += g
                let wo = w + o * k
                if let dx { for j in 0..<k { dx[i * k + j] += g * wo[j] } }
                if let dw { for j in 0..<k { dw[o * k + j] += g * xi[j] } }
            }
        }
    }
}
