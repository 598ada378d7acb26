// Float GEMM dispatch for training: the reference triple loop, or the packed SGEMM of the active ISA module.
//
// Shapes (row-major): C[M, N] (+)= A[M, K]·B[K, N], where A and B may be read transposed through strides.
// The linear layer's three products (x [N, K], W [M, K] in PyTorch's out×in layout, y [N, M]):
//   forward       y  = x·Wᵀ      gemm(A: x,        B: Wᵀ)
//   input grad    dx += dy·W     gemm(A: dy,       B: W)
//   weight grad   dW += dyᵀ·x    gemm(A: dyᵀ,      B: x)
// Either operand may be bf16 (mixed-precision training keeps weights in bf16; they are widened while packing).
// The workspace (packing buffers) is the caller's: `Sgemm.workspaceFloats(threads:)` floats.
import SKECore
#if arch(x86_64)
import SKEKernelsAVX2
import SKEKernelsAVX512
#endif

/// LLVM's prefetch intrinsic (`_mm_prefetch` is a C macro Swift cannot import).
@_silgen_name("llvm.prefetch.p0")
func sgemmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

public enum Sgemm {
    public typealias RowLoader = (_ row: Int, _ k0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>) -> Void

    /// Element (i, j) at base[i·rowStride + j·colStride], f32 or bf16 (widened exactly to f32 when read).
    public struct Operand {
        public let raw: UnsafeRawPointer
        public let rowStride: Int, colStride: Int
        public let bf16: Bool
        public init(_ base: UnsafePointer<Float>, rowStride: Int, colStride: Int) {
            raw = UnsafeRawPointer(base); self.rowStride = rowStride; self.colStride = colStride; bf16 = false
        }
        public init(bf16 base: UnsafeRawPointer, rowStride: Int, colStride: Int) {
            raw = base; self.rowStride = rowStride; self.colStride = colStride; bf16 = true
        }
        @inline(__always) func at(_ i: Int, _ j: Int) -> Float {
            let o = i * rowStride + j * colStride
            return bf16 ? bf16ToF32(raw.loadUnaligned(fromByteOffset: 2 * o, as: UInt16.self)) : raw.loadUnaligned(fromByteOffset: 4 * o, as: Float.self)
        }
        #if arch(x86_64)
        var avx2: SKEKernelsAVX2.SGEMM.Operand {
            bf16 ? .init(bf16: raw, rowStride: rowStride, colStride: colStride) : .init(raw.assumingMemoryBound(to: Float.self), rowStride: rowStride, colStride: colStride)
        }
        var avx512: SKEKernelsAVX512.SGEMM.Operand {
            bf16 ? .init(bf16: raw, rowStride: rowStride, colStride: colStride) : .init(raw.assumingMemoryBound(to: Float.self), rowStride: rowStride, colStride: colStride)
        }
        #endif
    }

    public static func workspaceFloats(threads: Int) -> Int {
        #if arch(x86_64)
        return max(SKEKernelsAVX2.SGEMM.workspaceFloats(threads: threads), SKEKernelsAVX512.SGEMM.workspaceFloats(threads: threads))
        #else
        return 0
        #endif
    }

    /// C[M, N] = (accumulate ? C : 0) + A[M, K]·B[K, N].
    public static func gemm(m: Int, n: Int, k: Int, a: Operand, b: Operand, c: UnsafeMutablePointer<Float>, ldc: Int,
                            accumulate: Bool, workspace: UnsafeMutablePointer<Float>, pool: ThreadPool,
                            level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        switch level {
        case .reference:
            reference(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
        #if arch(x86_64)
        case .avx2:
            SKEKernelsAVX2.SGEMM.gemm(m: m, n: n, k: k, a: a.avx2, b: b.avx2, c: c, ldc: ldc,
                                      accumulate: accumulate, workspace: workspace, pool: pool)
        case .avx512:
            SKEKernelsAVX512.SGEMM.gemm(m: m, n: n, k: k, a: a.avx512, b: b.avx512, c: c, ldc: ldc,
                                        accumulate: accumulate, workspace: workspace, pool: pool)
        #else
        default:
            reference(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
        #endif
        }
    }

    /// C[M, N] = (accumulate ? C : 0) + A[M, K]·W[N, K]ᵀ with W's rows produced by `rows` (see `RowLoader`):
    /// the inference path for quantized weights (dequantized piece by piece while packing, never as a whole).
    public static func gemm(m: Int, n: Int, k: Int, a: Operand, rows: RowLoader, c: UnsafeMutablePointer<Float>, ldc: Int,
                            accumulate: Bool, workspace: UnsafeMutablePointer<Float>, pool: ThreadPool,
                            level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        switch level {
        #if arch(x86_64)
        case .avx2:
            SKEKernelsAVX2.SGEMM.gemm(m: m, n: n, k: k, a: a.avx2, rows: rows, c: c, ldc: ldc,
                                      accumulate: accumulate, workspace: workspace, pool: pool)
        case .avx512:
            SKEKernelsAVX512.SGEMM.gemm(m: m, n: n, k: k, a: a.avx512, rows: rows, c: c, ldc: ldc,
                                        accumulate: accumulate, workspace: workspace, pool: pool)
        #endif
        default:
            // Reference: one KC piece of one W row at a time in the workspace, dotted with every row of A.
            let kcMax = 256
            for j in 0..<n {
                for i in 0..<m where !accumulate { c[i * ldc + j] = 0 }
                for k0 in stride(from: 0, to: k, by: kcMax) {
                    let kc = min(kcMax, k - k0)
                    rows(j, k0, kc, workspace)
                    for i in 0..<m {
                        var s: Float = 0
                        for p in 0..<kc { s += a.at(i, k0 + p) * workspace[p] }
                        c[i * ldc + j] += s
                    }
                }
            }
        }
    }

    /// Loader of a row-major weight matrix's rows through its type's dequantizer (whole blocks per call).
    public static func rowLoader(_ w: UnsafeRawPointer, rowBytes: Int, type: GGMLType, dequantize: @escaping DequantizeRow) -> RowLoader {
        let blockElements = type.blockSize, blockBytes = type.blockBytes
        return { row, k0, count, dst in
            let piece = w + row * rowBytes + k0 / blockElements * blockBytes
            // SGEMM asks for rows in order, each piece a few cache lines from a different row: without a
            // prefetch of the next rows' pieces every call waits on DRAM latency.
            let ahead = piece + 4 * rowBytes, bytes = count / blockElements * blockBytes
            for line in stride(from: 0, to: bytes, by: 64) { sgemmPrefetch(ahead + line, 0, 3, 1) }
            dequantize(piece, dst, count)
        }
    }

    /// The plain triple loop (Double accumulation per element is not used: same order as the definition).
    public static func reference(m: Int, n: Int, k: Int, a: Operand, b: Operand, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a.at(i, p) * b.at(p, j) }
                c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + s
            }
        }
    }

    /// y[N, M] = x[N, K]·W[M, K]ᵀ
    public static func linearForward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows n: Int, inputs k: Int, outputs m: Int,
                                     workspace: UnsafeMutablePointer<Float>, pool: ThreadPool, level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        gemm(m: n, n: m, k: k, a: Operand(x, rowStride: k, colStride: 1), b: Operand(w, rowStride: 1, colStride: k),
             c: y, ldc: m, accumulate: false, workspace: workspace, pool: pool, level: level)
    }

    /// dx[N, K] += dy[N, M]·W[M, K]
    public static func linearBackwardInput(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows n: Int, inputs k: Int, outputs m: Int,
                                           workspace: UnsafeMutablePointer<Float>, pool: ThreadPool, level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        gemm(m: n, n: k, k: m, a: Operand(dy, rowStride: m, colStride: 1), b: Operand(w, rowStride: k, colStride: 1),
             c: dx, ldc: k, accumulate: true, workspace: workspace, pool: pool, level: level)
    }

    /// dW[M, K] += dy[N, M]ᵀ·x[N, K]
    public static func linearBackwardWeight(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>, rows n: Int, inputs k: Int, outputs m: Int,
                                            workspace: UnsafeMutablePointer<Float>, pool: ThreadPool, level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        gemm(m: m, n: k, k: n, a: Operand(dy, rowStride: 1, colStride: m), b: Operand(x, rowStride: k, colStride: 1),
             c: dw, ldc: k, accumulate: true, workspace: workspace, pool: pool, level: level)
    }
}
