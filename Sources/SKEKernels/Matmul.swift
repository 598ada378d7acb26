// Fused dequant·matmul: weights stay in their block format and are expanded in registers inside the
// dot kernels; activations are quantized once per token to the weight type's activation format.
//
// Shapes (ggml convention, row-major): W [N, K] (N rows of K values, each row whole blocks),
//   X [T, K] f32 → Xq [T, K] in the activation format, Y [T, N] f32:  Y[t, n] = W[n, :] · X[t, :].
// Threads split the N output rows into contiguous ranges (each thread reads only its part of W).
// gemm walks W once: each weight row is loaded into cache and used for every token of the batch
// before the next row; types with a four-token kernel (`rowDot4`) unpack each weight block once per four
// tokens, over blocks of 16 rows; for one token, types with a four-row kernel (`rowDot4Rows`) take four rows
// per call. The caller owns every buffer (kernels never allocate).
import SKECore

public enum Matmul {
    /// Bytes of scratch for `tokens` activation rows of length k (Xq's size) for these kernels.
    public static func activationBytes(_ kernels: QuantKernels, k: Int, tokens: Int = 1) -> Int? {
        guard let row = kernels.activationRowStride(k: k) else { return nil }
        let (n, o) = row.multipliedReportingOverflow(by: tokens)
        return o ? nil : n
    }

    /// How activations are quantized to `format`: llama.cpp's CPU activation quantizers where they differ from
    /// the weight quantizers (Q8_0, Q8_1), else the format's quantizer.
    public static func activationQuantizer(_ format: GGMLType) -> QuantizeRow {
        switch format {
        case .q8_0: QuantReference.quantizeActivationQ8_0
        case .q8_1: QuantReference.quantizeActivationQ8_1
        default: QuantTraits.kernels(format, level: .reference)!.quantize
        }
    }

    /// The function that writes one activation row as these kernels read it: the activation format's blocks
    /// (+ the ISA sidecar when the kernels have a prepared path). Resolve it once, call it per row.
    public static func activationRowWriter(_ kernels: QuantKernels, k: Int) -> @Sendable (_ x: UnsafePointer<Float>, _ row: UnsafeMutableRawPointer) -> Void {
        let quantize = kernels.fastActivationQuantizer?.call ?? activationQuantizer(kernels.activation)
        guard let prepared = kernels.prepared else { return { x, row in quantize(x, row, k) } }
        let sidecar = prepared.sidecarOffset(kernels.activation.byteCount(elements: k)!)
        return { x, row in
            quantize(x, row, k)
            prepared.prepare(row, k, row + sidecar)
        }
    }

    /// Xq[t] = quantize(X[t]) (+ the ISA sidecar) for t in 0..<tokens, split over the pool's threads.
    public static func quantizeActivations(_ kernels: QuantKernels, x: UnsafePointer<Float>, tokens: Int, k: Int,
                                           into xq: UnsafeMutableRawPointer, pool: ThreadPool) {
        let write = activationRowWriter(kernels, k: k)
        let stride = kernels.activationRowStride(k: k)!
        if tokens == 1 { write(x, xq); return }
        pool.parallelFor(tokens) { r in for t in r { write(x + t * k, xq + t * stride) } }
    }

    /// Y[t, n] = W[n] · Xq[t] for an already quantized activation batch. Hot: this is where decode spends its time.
    public static func gemmQuantized(_ kernels: QuantKernels, w: UnsafeRawPointer, rows n: Int, k: Int,
                                     xq: UnsafeRawPointer, tokens: Int, y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let wRow = kernels.type.byteCount(elements: k)!
        let aRow = kernels.activationRowStride(k: k)!
        let dot = kernels.rowDot
        if tokens >= 4, let dot4 = kernels.rowDot4 {
            // Blocks of 16 weight rows × groups of 4 tokens: a group's activations stay in L1 across the block.
            let groups = tokens / 4
            pool.parallelFor(n) { rows in
                for r0 in stride(from: rows.lowerBound, to: rows.upperBound, by: 16) {
                    let r1 = min(r0 + 16, rows.upperBound)
                    for g in 0..<groups {
                        for r in r0..<r1 { dot4.call(w + r * wRow, xq + 4 * g * aRow, aRow, k, y + 4 * g * n + r, n) }
                    }
                    for t in (4 * groups)..<tokens { for r in r0..<r1 { y[t * n + r] = dot(w + r * wRow, xq + t * aRow, k) } }
                }
            }
            return
        }
        pool.parallelFor(n) { rows in
            if tokens == 1 {
                var r = rows.lowerBound
                // Four weight rows per call where the type has a four-row kernel (independent accumulator chains).
                if let dot4Rows = kernels.rowDot4Rows { while r + 4 <= rows.upperBound { dot4Rows.call(w + r * wRow, wRow, xq, k, y + r); r += 4 } }
                while r < rows.upperBound { y[r] = dot(w + r * wRow, xq, k); r += 1 }
                return
            }
            for r in rows {
                let wr = w + r * wRow
                for t in 0..<tokens { y[t * n + r] = dot(wr, xq + t * aRow, k) }
            }
        }
    }

    /// Bytes of per-thread workspace `gemmPanels` needs: one panel, the accumulators and a 16 × 4 result tile.
    public static func panelWorkspaceBytes(_ g: PanelGemmKernel, k: Int) -> Int {
        (g.panelBytes(k: k) + 63) / 64 * 64 + (g.accumulatorFloats(k: k) + 64) * 4
    }

    /// Y[t, n] = W[n] · Xq[t] over 16-row panels (`kernels.prepared.panelGemm`): each panel of W unpacked once, then
    /// multiplied with the batch four tokens at a time; results equal `gemmQuantized`'s bit for bit. Rows below
    /// `grouped` are in the interleaved layout (`packInterleaved`). `workspace`: pool.threadCount ×
    /// panelWorkspaceBytes, 64-byte aligned.
    public static func gemmPanels(_ g: PanelGemmKernel, w: UnsafeRawPointer, rowBytes: Int, grouped: Int, rows n: Int, k: Int,
                                  xq: UnsafeRawPointer, stride aRow: Int, tokens: Int, y: UnsafeMutablePointer<Float>,
                                  workspace: UnsafeMutableRawPointer, pool: ThreadPool) {
        let per = panelWorkspaceBytes(g, k: k), panelBytes = (g.panelBytes(k: k) + 63) / 64 * 64
        let panels = (n + PanelGemmKernel.rows - 1) / PanelGemmKernel.rows
        pool.run { th, threads in
            let panel = workspace + th * per, acc = (panel + panelBytes).assumingMemoryBound(to: Float.self)
            let tile = acc + g.accumulatorFloats(k: k)
            for p in ThreadPool.partition(panels, part: th, of: threads) {
                let r0 = p * PanelGemmKernel.rows, count = min(PanelGemmKernel.rows, n - r0)
                g.pack(w, rowBytes, r0, count, grouped, panel)
                for t0 in Swift.stride(from: 0, to: tokens, by: 4) {
                    let tc = min(4, tokens - t0)
                    g.multiply(panel, k, xq + t0 * aRow, aRow, tc, acc, tile)
                    for t in 0..<tc { (y + (t0 + t) * n + r0).update(from: tile + 16 * t, count: count) }
                }
            }
        }
    }

    /// Y = X · Wᵀ: quantizes X (into `scratch`, at least activationBytes(kernels, k, tokens) bytes), then multiplies.
    public static func gemm(_ kernels: QuantKernels, w: UnsafeRawPointer, rows n: Int, k: Int,
                            x: UnsafePointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutableRawPointer, pool: ThreadPool) {
        quantizeActivations(kernels, x: x, tokens: tokens, k: k, into: scratch, pool: pool)
        gemmQuantized(kernels, w: w, rows: n, k: k, xq: scratch, tokens: tokens, y: y, pool: pool)
    }

    /// Repacks W [n rows of rowBytes, a multiple of path.rowBytesMultiple] for `path` into dst (the same byte count):
    /// each full group of four rows packed, the rows after the last group copied as they are. Groups are split over the pool's threads.
    public static func packInterleaved(_ path: QuantKernels.InterleavedPath, w: UnsafeRawPointer, rows n: Int, rowBytes: Int,
                                       into dst: UnsafeMutableRawPointer, pool: ThreadPool) {
        let groups = n / 4
        pool.parallelFor(groups) { gs in for g in gs { path.pack(w + 4 * g * rowBytes, rowBytes, dst + 4 * g * rowBytes) } }
        (dst + 4 * groups * rowBytes).copyMemory(from: w + 4 * groups * rowBytes, byteCount: (n - 4 * groups) * rowBytes)
    }

    /// Decode over W repacked by `packInterleaved`: y[n] = W[n] · x.
    public static func gemvInterleaved(_ kernels: QuantKernels, w: UnsafeRawPointer, rows n: Int, k: Int,
                                       x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                       scratch: UnsafeMutableRawPointer, pool: ThreadPool) {
        guard let dot4 = kernels.prepared?.interleaved?.dot4Rows else { return gemv(kernels, w: w, rows: n, k: k, x: x, y: y, scratch: scratch, pool: pool) }
        quantizeActivations(kernels, x: x, tokens: 1, k: k, into: scratch, pool: pool)
        let wRow = kernels.type.byteCount(elements: k)!, dot = kernels.rowDot, xq = UnsafeRawPointer(scratch)
        pool.parallelFor(n / 4) { gs in for g in gs { dot4.call(w + 4 * g * wRow, wRow, xq, k, y + 4 * g) } }
        for r in (n / 4 * 4)..<n { y[r] = dot(w + r * wRow, xq, k) }
    }

    /// Decode: one token. y[n] = W[n] · x.
    public static func gemv(_ kernels: QuantKernels, w: UnsafeRawPointer, rows n: Int, k: Int,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutableRawPointer, pool: ThreadPool) {
        gemm(kernels, w: w, rows: n, k: k, x: x, tokens: 1, y: y, scratch: scratch, pool: pool)
    }
}
