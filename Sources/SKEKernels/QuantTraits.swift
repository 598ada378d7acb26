// The quant traits table (ggml's `type_traits` idea): for every weight type, its activation format and
// the kernels to dequantize, quantize and take dot products. Adding a format = adding a row.
// One table per ISA level; faster levels replace only the entries they accelerate.
import SKECore

public typealias DequantizeRow = @Sendable (_ blocks: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ k: Int) -> Void
public typealias QuantizeRow = @Sendable (_ x: UnsafePointer<Float>, _ blocks: UnsafeMutableRawPointer, _ k: Int) -> Void
public typealias DotRow = @Sendable (_ weights: UnsafeRawPointer, _ activations: UnsafeRawPointer, _ k: Int) -> Float

public struct QuantKernels: Sendable {
    public let type: GGMLType
    /// The format activations are quantized to before `dot` (ggml's vec_dot_type).
    public let activation: GGMLType
    public let dequantize: DequantizeRow
    public let quantize: QuantizeRow
    public let dot: DotRow
    /// Which ISA level `dot` comes from.
    public let dotISA: CPUFeatures.ISALevel
    /// An optional faster path over a *prepared* activation row (standard blocks followed by an ISA-specific
    /// sidecar at a 64-byte aligned offset). gemv/gemm use it when present.
    public let prepared: PreparedPath?
    /// The four-token form of `dot` (non-prepared types), when there is one.
    public var plainDot4: Dot4Kernel? = nil
    /// A faster quantizer for the activation format at this level (byte-identical to the reference's), when there is one.
    public var fastActivationQuantizer: QuantizeKernel? = nil

    public struct PreparedPath: Sendable {
        public let sidecarBytes: @Sendable (_ k: Int) -> Int
        public let sidecarOffset: @Sendable (_ rowBytes: Int) -> Int
        public let prepare: @Sendable (_ blocks: UnsafeRawPointer, _ k: Int, _ sidecar: UnsafeMutableRawPointer) -> Void
        public let dot: DotRow
        /// Four tokens per call over prepared rows (prefill), for the types that have it.
        public var dot4: Dot4Kernel? = nil
        /// Four weight rows per call against one prepared row (decode), for the types that have it.
        public var dot4Rows: Dot4RowsKernel? = nil
        /// Decode over weights repacked four rows at a time (see Interleave.swift), for the types that have it.
        public var interleaved: InterleavedPath? = nil
        /// Prefill over 16-row panels unpacked once per batch, for the types that have it.
        public var panelGemm: PanelGemmKernel? = nil
    }

    /// Four-row groups of weights repacked for decode: `pack(src, rowBytes, dst)` writes the group of the four rows
    /// at src (4·rowBytes bytes, the same count; rowBytes a multiple of `rowBytesMultiple`); `dequantize(group,
    /// rowBytes, lane, first, count, dst)` writes `count` blocks of one of its rows from block `first` as floats, bit
    /// for bit the row's dequantization, read in place
    /// (prefill's SGEMM/AMX loaders); `dot4Rows(group, rowBytes, a, k, out)` is the decode kernel, out[i] equal to the
    /// prepared dot of the original row i bit for bit. `dequantize` is a C function pointer, not a closure: a loader
    /// calls it once per row on every thread, and a closure taken out of a struct is retained and released around
    /// each call (atomics on one shared count).
    public struct InterleavedPath: Sendable {
        public typealias Dequantize = @convention(c) (_ group: UnsafeRawPointer, _ rowBytes: Int, _ lane: Int, _ first: Int, _ count: Int,
                                                      _ dst: UnsafeMutablePointer<Float>) -> Void
        public let pack: @Sendable (_ src: UnsafeRawPointer, _ rowBytes: Int, _ dst: UnsafeMutableRawPointer) -> Void
        /// The layout takes rows whose byte count is a multiple of this (Q4_K: one super-block; Q5_0: four blocks; Q4_1: one).
        public let rowBytesMultiple: Int
        public let dequantize: Dequantize
        public let dot4Rows: Dot4RowsKernel
    }

    /// Four tokens per call over activation rows laid out as `rowDot` reads them (prefill), when this type and
    /// level have such a kernel; each result equals `rowDot`'s.
    public var rowDot4: Dot4Kernel? {
        if let p = prepared { return p.dot4 }
        return plainDot4
    }

    /// Four weight rows against one activation row laid out as `rowDot` reads it (decode), when this type and
    /// level have such a kernel; each result equals `rowDot`'s.
    public var rowDot4Rows: Dot4RowsKernel? { prepared?.dot4Rows }

    /// The dot gemv/gemm call per row: the prepared path's when there is one. (Not `prepared?.dot ?? dot`: an
    /// Optional function is reabstracted, and every call would pay for the thunks.)
    public var rowDot: DotRow {
        if let p = prepared { return p.dot }
        return dot
    }

    /// Bytes of one activation row as gemv/gemm lay it out (blocks, plus the sidecar when prepared), a multiple of 64.
    public func activationRowStride(k: Int) -> Int? {
        guard let blocks = activation.byteCount(elements: k) else { return nil }
        let total = prepared.map { $0.sidecarOffset(blocks) + $0.sidecarBytes(k) } ?? blocks
        return (total + 63) & ~63
    }
}

public enum QuantTraits {
    typealias Row = (GGMLType, GGMLType, DequantizeRow, QuantizeRow, DotRow)
    typealias R = QuantReference

    /// The reference rows: type, activation format, dequantize, quantize, dot.
    static let reference: [Row] = [
        (.f32, .f32, R.dequantizeF32, R.quantizeF32, R.dotF32),
        (.f16, .f16, R.dequantizeF16, R.quantizeF16, R.dotF16),
        (.bf16, .bf16, R.dequantizeBF16, R.quantizeBF16, R.dotBF16),
        (.q4_0, .q8_0, R.dequantizeQ4_0, R.quantizeQ4_0, R.dotQ4_0),
        (.q4_1, .q8_1, R.dequantizeQ4_1, R.quantizeQ4_1, R.dotQ4_1),
        (.q5_0, .q8_0, R.dequantizeQ5_0, R.quantizeQ5_0, R.dotQ5_0),
        (.q5_1, .q8_1, R.dequantizeQ5_1, R.quantizeQ5_1, R.dotQ5_1),
        (.q8_0, .q8_0, R.dequantizeQ8_0, R.quantizeQ8_0, R.dotQ8_0),
        (.q4_K, .q8_K, R.dequantizeQ4_K, R.quantizeQ4_K, R.dotQ4_K),
        (.q5_K, .q8_K, R.dequantizeQ5_K, R.quantizeQ5_K, R.dotQ5_K),
        (.q6_K, .q8_K, R.dequantizeQ6_K, R.quantizeQ6_K, R.dotQ6_K),
        // Activation-only formats: quantize/dequantize, no weight dot of their own.
        (.q8_1, .q8_1, R.dequantizeQ8_1, R.quantizeQ8_1, { _, _, _ in .nan }),
        (.q8_K, .q8_K, R.dequantizeQ8_K, R.quantizeQ8_K, { _, _, _ in .nan }),
    ]

    /// Weight types with a dot kernel (what gemv/gemm accept).
    public static let weightTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    static let tables: [CPUFeatures.ISALevel: [GGMLType: QuantKernels]] = {
        var out: [CPUFeatures.ISALevel: [GGMLType: QuantKernels]] = [:]
        for level in CPUFeatures.ISALevel.allCases {
            var t: [GGMLType: QuantKernels] = [:]
            for (type, act, dq, q, dot) in reference {
                var fast = dot, from = CPUFeatures.ISALevel.reference, dequantize = dq
                for l in CPUFeatures.ISALevel.allCases where l <= level {
                    if let f = FastDots.dot(type, level: l) { fast = f.call; from = l }
                    if let f = FastDots.dequantize(type, level: l) { dequantize = f.call }
                }
                var kernels = QuantKernels(type: type, activation: act, dequantize: dequantize, quantize: q, dot: fast, dotISA: from,
                                           prepared: level == .avx512 ? FastDots.prepared(type) : nil)
                if from != .reference { kernels.plainDot4 = FastDots.dot4(type, level: from) }
                kernels.fastActivationQuantizer = FastDots.activationQuantizer(act, level: level)
                t[type] = kernels
            }
            out[level] = t
        }
        return out
    }()

    /// The ISA level kernels use in this process (SKE_ISA or the best the CPU supports).
    public static let activeLevel: CPUFeatures.ISALevel = (try? CPUFeatures.host.selectedISALevel()) ?? CPUFeatures.host.bestISALevel

    /// Kernels for `type` at `level` (default: the active level); nil for types without kernels.
    public static func kernels(_ type: GGMLType, level: CPUFeatures.ISALevel = activeLevel) -> QuantKernels? {
        tables[level]?[type]
    }


}
