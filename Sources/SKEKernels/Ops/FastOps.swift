// Dispatch for the float ops on the decode path: the reference (generic, in Ops/) or the SIMD versions in
// the ISA modules (Sources/SKEKernelsShared/SIMDOps.swift), chosen by ISA level like the quant dots.
// Shapes as in the reference ops. Contract: within 1e-5 relative of the reference.
import SKECore
#if arch(x86_64)
import SKEKernelsAVX2
import SKEKernelsAVX512
#endif

public enum FastOps {
    public static func rmsNorm(x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, eps: Float,
                               level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        switch level {
        #if arch(x86_64)
        case .avx2: SKEKernelsAVX2.SIMDOps.rmsNorm(x: x, weight: weight, y: y, rows: n, cols: c, eps: eps)
        case .avx512: SKEKernelsAVX512.SIMDOps.rmsNorm(x: x, weight: weight, y: y, rows: n, cols: c, eps: eps)
        #endif
        default: Norm.rmsNormForward(x: x, weight: weight, y: y, rstd: nil, rows: n, cols: c, eps: eps)
        }
    }

    public static func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int,
                               level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        switch level {
        #if arch(x86_64)
        case .avx2: SKEKernelsAVX2.SIMDOps.softmax(x, y, rows: n, cols: c)
        case .avx512: SKEKernelsAVX512.SIMDOps.softmax(x, y, rows: n, cols: c)
        #endif
        default: Softmax.forward(x, y, rows: n, cols: c)
        }
    }

    /// Decode attention over a KV cache of f32 values, or f16 when `half` (cache slot j holds position j; `layout`
    /// position-major [TK, NKV, HS] unless given). An f16 cache
    /// is met as llama.cpp meets it: the caller passes q rounded to f16, and probabilities are rounded to f16 before V.
    /// `heads` lets threads split heads.
    public static func attentionDecode(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens t: Int,
                                       kCache: UnsafeRawPointer, vCache: UnsafeRawPointer, half: Bool, cacheLength tk: Int,
                                       out: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>, _ p: AttentionParameters,
                                       heads: Range<Int>? = nil, layout: KVLayout? = nil,
                                       level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        let range = heads ?? 0..<p.heads, kv = layout ?? .positionMajor(p)
        let (scale, cap) = (Float(p.scale), Float(p.softCap))
        switch level {
        #if arch(x86_64)
        case .avx2:
            SKEKernelsAVX2.SIMDOps.attentionDecode(q: q, positions: positions, tokens: t, kCache: kCache, vCache: vCache, half: half, cacheLength: tk,
                                                   out: out, row: row, heads: p.heads, kvHeads: p.kvHeads, headSize: p.headSize, scale: scale,
                                                   window: p.window, softCap: cap, headRange: range, kvRowStride: kv.rowStride, kvHeadStride: kv.headStride)
            return
        case .avx512:
            SKEKernelsAVX512.SIMDOps.attentionDecode(q: q, positions: positions, tokens: t, kCache: kCache, vCache: vCache, half: half, cacheLength: tk,
                                                     out: out, row: row, heads: p.heads, kvHeads: p.kvHeads, headSize: p.headSize, scale: scale,
                                                     window: p.window, softCap: cap, headRange: range, kvRowStride: kv.rowStride, kvHeadStride: kv.headStride)
            return
        #endif
        default: break
        }
        switch half {
        case false:
            Attention.decode(q: q, positions: positions, tokens: t, kCache: kCache.assumingMemoryBound(to: Float.self),
                             vCache: vCache.assumingMemoryBound(to: Float.self), cacheLength: tk, out: out, row: row, p, heads: range, layout: kv)
        case true:
            Attention.decode(q: q, positions: positions, tokens: t, kCache: kCache.assumingMemoryBound(to: Float16.self),
                             vCache: vCache.assumingMemoryBound(to: Float16.self), cacheLength: tk, out: out, row: row, p, heads: range, layout: kv)
        }
    }

    /// Floats of `rows` that `attentionGroup` needs: four score rows `rowStride` apart and the AVX-512 path's workspace.
    public static func attentionGroupScratchFloats(rowStride: Int) -> Int {
        #if arch(x86_64)
        4 * rowStride + SKEKernelsAVX512.SIMDOps.groupWorkspaceFloats
        #else
        4 * rowStride
        #endif
    }

    /// Attention for the query rows (t, h), t in `tokens`, h in `heads` (heads of one K/V head), bit for bit
    /// `attentionDecode` of each row: the SIMD paths take four rows per pass over K and V. q, out and `positions` are
    /// indexed by t; `rows` holds `attentionGroupScratchFloats(rowStride:)` floats: four score rows `rowStride`
    /// (≥ cacheLength) floats apart, then workspace.
    public static func attentionGroup(q: UnsafePointer<Float>, positions: UnsafePointer<Int32>, tokens: Range<Int>, heads: Range<Int>,
                                      kCache: UnsafeRawPointer, vCache: UnsafeRawPointer, half: Bool, cacheLength tk: Int,
                                      out: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>, rowStride: Int,
                                      _ p: AttentionParameters, layout: KVLayout? = nil, level: CPUFeatures.ISALevel = QuantTraits.activeLevel) {
        let kv = layout ?? .positionMajor(p)
        precondition(heads.isEmpty || (heads.lowerBound / (p.heads / p.kvHeads) == (heads.upperBound - 1) / (p.heads / p.kvHeads)),
                     "attentionGroup: heads \(heads) span more than one K/V head")
        let (scale, cap) = (Float(p.scale), Float(p.softCap))
        switch level {
        #if arch(x86_64)
        case .avx2:
            SKEKernelsAVX2.SIMDOps.attentionGroup(q: q, positions: positions, tokens: tokens, headRange: heads, kCache: kCache, vCache: vCache,
                                                  half: half, cacheLength: tk, out: out, rows: rows, rowStride: rowStride, heads: p.heads,
                                                  kvHeads: p.kvHeads, headSize: p.headSize, scale: scale, window: p.window, softCap: cap,
                                                  kvRowStride: kv.rowStride, kvHeadStride: kv.headStride)
            return
        case .avx512:
            SKEKernelsAVX512.SIMDOps.attentionGroup(q: q, positions: positions, tokens: tokens, headRange: heads, kCache: kCache, vCache: vCache,
                                                    half: half, cacheLength: tk, out: out, rows: rows, rowStride: rowStride, heads: p.heads,
                                                    kvHeads: p.kvHeads, headSize: p.headSize, scale: scale, window: p.window, softCap: cap,
                                                    kvRowStride: kv.rowStride, kvHeadStride: kv.headStride)
            return
        #endif
        default: break
        }
        for t in tokens {
            attentionDecode(q: q + t * p.heads * p.headSize, positions: positions + t, tokens: 1, kCache: kCache, vCache: vCache, half: half,
                            cacheLength: tk, out: out + t * p.heads * p.headSize, row: rows, p, heads: heads, layout: kv, level: level)
        }
    }
}
