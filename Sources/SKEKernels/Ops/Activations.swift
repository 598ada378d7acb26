#if arch(x86_64)
import SKEKernelsAVX2
import SKEKernelsAVX512
#endif
import SKECore
// Elementwise activations and gated units, forward and backward.
//
// Shapes: x, g, u, y [N] (any shape, flattened). Backward accumulates (+=).
//   silu(x) = x·σ(x)                       silu'(x) = σ(x)·(1 + x·(1 − σ(x)))
//   gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))   (the tanh approximation Gemma and ggml use)
//   swiglu(g, u) = silu(g)·u               geglu(g, u) = gelu(g)·u
// Saved for backward: the inputs (g, u). Training and float inference compute GELU exactly; quantized and mixed
// inference use llama.cpp's f16 lookup table (`GeluTable`), as its CPU backend does.
import RealModule
#if canImport(Glibc)
import Glibc
#endif

/// llama.cpp's CPU GELU (ggml's GGML_GELU_FP16, used by its GELU and GEGLU ops): inputs ≤ −10 give 0 and ≥ 10 give x;
/// others are rounded to f16 and looked up in a table holding f16(gelu(v)) for every f16 value v, with gelu
/// evaluated as ggml's compiled code does (½·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))), libm tanhf, and the inner
/// 1 + (0.044715·x)·x fused into one FMA as GCC contracts it: unfused, the entry for x = −1.999 came out one f16 ulp
/// off ggml's table, read back from libggml-cpu). Cheaper than tanhf and the same numbers as llama.cpp.
public enum GeluTable {
    nonisolated(unsafe) public static let values: UnsafePointer<Float> = {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: 1 << 16)
        for i in 0..<(1 << 16) {
            let v = Float(Float16(bitPattern: UInt16(i)))
            let sqrt2OverPi: Float = 0.79788456080286535587989211986876, coefA: Float = 0.044715
            t[i] = Float(Float16(0.5 * v * (1 + tanhf(sqrt2OverPi * v * Float(1).addingProduct(coefA * v, v)))))
        }
        return UnsafePointer(t)
    }()

    @inline(__always) public static func gelu(_ x: Float) -> Float { gelu(x, values) }

    @inline(__always) static func gelu(_ x: Float, _ table: UnsafePointer<Float>) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return table[Int(Float16(x).bitPattern)]
    }

    /// y = gelu(g)·u over n values (ggml_vec_geglu_f32). The table is read from its lazy global once: per value,
    /// the access was a `swift_once` call (a third of this loop's time, ~8% of a Gemma prefill).
    public static func geglu(gate g: UnsafePointer<Float>, up u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        let table = values
        for i in 0..<n { y[i] = gelu(g[i], table) * u[i] }
    }
}

/// SiLU as quantized and mixed precision compute it (float precision keeps `Activation.silu`, the reference's): x·σ(x)
/// with σ from e^−|x| (argument never positive: no overflow), e^z = 2ⁿ·p(r), n = round(z·log₂e), r = z − n·ln 2 (ln 2
/// split in two) and Cephes' degree-7 polynomial: the softmax's exp (`SIMDOps.expNonPositive`, whose lanes `glu` runs
/// at the AVX2/AVX-512 levels). The scalar code here does the same operations in the same order, so a value is the same
/// through a vector's lanes, a row's tail or one call (decode == recompute bit for bit); within 4 ulp of the exact
/// SiLU (FastOpsTests). libm's expf per value was ~5% of a Qwen3-shaped prefill.
public enum FastSilu {
    @inlinable @inline(__always) public static func silu(_ x: Float) -> Float {
        let z = x < 0 ? x : -x   // −|x| ≤ 0
        let floor: Float = -87.33654, big: Float = 12_582_912   // 1.5·2²³: adding it rounds to an integer
        let under = z < floor, zc = under ? floor : z
        let t = zc * 1.442_695_04 + big, n = t - big
        let r = (zc - n * 0.693_359_375) - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 0.166_666_655
        p = p * r + 0.500_000_01
        p = p * (r * r) + r + 1
        let e = under ? 0 : p * Float(bitPattern: (t.bitPattern &- big.bitPattern &+ 127) &<< 23)   // e^−|x|
        let s = 1 / (1 + e)
        return x * (x < 0 ? e * s : s)
    }

    /// y = silu(g)·u over n values (ggml_vec_swiglu_f32's job), each equal to `silu(g[i]) * u[i]`.
    public static func glu(gate g: UnsafePointer<Float>, up u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int,
                           level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        switch level {
        #if arch(x86_64)
        case .avx2: SKEKernelsAVX2.SIMDOps.siluGLU(g, u, y, n)
        case .avx512: SKEKernelsAVX512.SIMDOps.siluGLU(g, u, y, n)
        #endif
        default: for i in 0..<n { y[i] = silu(g[i]) * u[i] }
        }
    }
}

public enum Activation {
    @inlinable @inline(__always) static func sigmoid<F: Real>(_ x: F) -> F { 1 / (1 + F.exp(-x)) }
    @inlinable @inline(__always) public static func silu<F: Real>(_ x: F) -> F { x * sigmoid(x) }
    @inlinable @inline(__always) public static func siluGrad<F: Real>(_ x: F) -> F {
        let s = sigmoid(x)
        return s * (1 + x * (1 - s))
    }
    @inlinable @inline(__always) static var geluC: Double { 0.7978845608028654 }  // √(2/π)
    @inlinable @inline(__always) public static func gelu<F: Real & BinaryFloatingPoint>(_ x: F) -> F {
        F(0.5) * x * (1 + F.tanh(F(geluC) * (x + F(0.044715) * x * x * x)))
    }
    @inlinable @inline(__always) public static func geluGrad<F: Real & BinaryFloatingPoint>(_ x: F) -> F {
        let inner = F(geluC) * (x + F(0.044715) * x * x * x)
        let t = F.tanh(inner)
        return F(0.5) * (1 + t) + F(0.5) * x * (1 - t * t) * F(geluC) * (1 + 3 * F(0.044715) * x * x)
    }

    @inlinable @_specialize(where F == Float)
    public static func siluForward<F: Real & BinaryFloatingPoint>(_ x: UnsafePointer<F>, _ y: UnsafeMutablePointer<F>, count n: Int) {
        for i in 0..<n { y[i] = silu(x[i]) }
    }
    @inlinable @_specialize(where F == Float)
    public static func siluBackward<F: Real & BinaryFloatingPoint>(dy: UnsafePointer<F>, x: UnsafePointer<F>, dx: UnsafeMutablePointer<F>, count n: Int) {
        for i in 0..<n { dx[i] += dy[i] * siluGrad(x[i]) }
    }
    @inlinable @_specialize(where F == Float)
    public static func geluForward<F: Real & BinaryFloatingPoint>(_ x: UnsafePointer<F>, _ y: UnsafeMutablePointer<F>, count n: Int) {
        for i in 0..<n { y[i] = gelu(x[i]) }
    }
    @inlinable @_specialize(where F == Float)
    public static func geluBackward<F: Real & BinaryFloatingPoint>(dy: UnsafePointer<F>, x: UnsafePointer<F>, dx: UnsafeMutablePointer<F>, count n: Int) {
        for i in 0..<n { dx[i] += dy[i] * geluGrad(x[i]) }
    }

    /// y = act(g)·u with act = silu (SwiGLU) or gelu (GeGLU).
    @inlinable @_specialize(where F == Float)
    public static func gluForward<F: Real & BinaryFloatingPoint>(gate g: UnsafePointer<F>, up u: UnsafePointer<F>, _ y: UnsafeMutablePointer<F>,
                                                                   count n: Int, gelu useGelu: Bool) {
        if useGelu { for i in 0..<n { y[i] = gelu(g[i]) * u[i] } } else { for i in 0..<n { y[i] = silu(g[i]) * u[i] } }
    }
    /// dg += dy·u·act'(g);  du += dy·act(g).
    @inlinable @_specialize(where F == Float)
    public static func gluBackward<F: Real & BinaryFloatingPoint>(dy: UnsafePointer<F>, gate g: UnsafePointer<F>, up u: UnsafePointer<F>,
                                                                    dGate: UnsafeMutablePointer<F>, dUp: UnsafeMutablePointer<F>, count n: Int, gelu useGelu: Bool) {
        for i in 0..<n {
            let a = useGelu ? gelu(g[i]) : silu(g[i]), da = useGelu ? geluGrad(g[i]) : siluGrad(g[i])
            dGate[i] += dy[i] * u[i] * da
            dUp[i] += dy[i] * a
        }
    }
}

/// Residual add and scale: y = a + s·b (s = 1 for a plain residual). Backward: da += dy, db += s·dy.
public enum Residual {
    @inlinable @_specialize(where F == Float)
    public static func forward<F: Real & BinaryFloatingPoint>(_ a: UnsafePointer<F>, _ b: UnsafePointer<F>, scale s: F, _ y: UnsafeMutablePointer<F>, count n: Int) {
        for i in 0..<n { y[i] = a[i] + s * b[i] }
    }
    @inlinable @_specialize(where F == Float)
    public static func backward<F: Real & BinaryFloatingPoint>(dy: UnsafePointer<F>, scale s: F, da: UnsafeMutablePointer<F>?, db: UnsafeMutablePointer<F>?, count n: Int) {
        for i in 0..<n {
            da?[i] += dy[i]
            db?[i] += s * dy[i]
        }
    }
}
