// Registry of SIMD kernels per ISA level (dots, four-token dots, dequantizers, activation quantizers). The kernels live in
// SKEKernelsAVX2 / SKEKernelsAVX512, each module compiled with its own -target-cpu; they are only called when
// CPUFeatures says the level is available. Types missing here fall back to the reference kernels. The tables
// hold boxed functions (SKECore/KernelFunctions.swift): a kernel function passed bare through an Optional or
// a collection is called through reabstraction thunks.
import SKECore

enum FastDots {
    static func dot(_ type: GGMLType, level: CPUFeatures.ISALevel) -> DotKernel? {
        switch level {
        case .reference: return nil
        case .avx2: return avx2Dots[type]
        case .avx512: return avx512Dots[type]
        }
    }

    static func dot4(_ type: GGMLType, level: CPUFeatures.ISALevel) -> Dot4Kernel? {
        switch level {
        case .reference: return nil
        case .avx2: return avx2Dot4[type]
        case .avx512: return avx512Dot4[type]
        }
    }

    static func activationQuantizer(_ format: GGMLType, level: CPUFeatures.ISALevel) -> QuantizeKernel? {
        level == .avx512 ? avx512ActivationQuantizers[format] : nil
    }

    static func dequantize(_ type: GGMLType, level: CPUFeatures.ISALevel) -> DequantizeKernel? {
        switch level {
        case .reference: return nil
        case .avx2: return avx2Dequant[type]
        case .avx512: return avx512Dequant[type]
        }
    }
}

#if arch(x86_64)
import SKEKernelsAVX2
import SKEKernelsAVX512
let avx2Dots: [GGMLType: DotKernel] = SKEKernelsAVX2.SIMDDots.table
let avx512Dots: [GGMLType: DotKernel] = SKEKernelsAVX512.SIMDDots.table
let avx2Dot4: [GGMLType: Dot4Kernel] = SKEKernelsAVX2.SIMDDots.table4
let avx512Dot4: [GGMLType: Dot4Kernel] = SKEKernelsAVX512.SIMDDots.table4
let avx2Dequant: [GGMLType: DequantizeKernel] = SKEKernelsAVX2.SIMDDequant.table
let avx512Dequant: [GGMLType: DequantizeKernel] = SKEKernelsAVX512.SIMDDequant.table
let avx512ActivationQuantizers: [GGMLType: QuantizeKernel] = SKEKernelsAVX512.ActivationQuantizers.table

extension FastDots {
    /// The AVX-512 prepared-activation path for `type`, when there is one.
    static func prepared(_ type: GGMLType) -> QuantKernels.PreparedPath? {
        guard let entry = PreparedDots.table[type], let act = QuantTraits.reference.first(where: { $0.0 == type })?.1 else { return nil }
        return QuantKernels.PreparedPath(
            sidecarBytes: { PreparedDots.sidecarBytes(activation: act, k: $0) },
            sidecarOffset: { PreparedDots.sidecarOffset($0) },
            prepare: entry.prepare, dot: entry.dot, dot4: PreparedDots.table4[type], dot4Rows: PreparedDots.tableRows4[type],
            interleaved: interleaved(type), panelGemm: PreparedDots.panelTable[type])
    }

    /// The repacked decode path for `type`, when there is one: the layout's (un)packing beside the kernel reading it.
    static func interleaved(_ type: GGMLType) -> QuantKernels.InterleavedPath? {
        switch type {
        case .q4_K:
            return QuantKernels.InterleavedPath(pack: { Interleave.packQ4_Kx4($0, rowBytes: $1, $2) }, rowBytesMultiple: 144,
                                                dequantize: { SKEKernelsAVX512.SIMDDequant.dequantizeQ4_Kx4($0, $1, $2, $3, $4, $5) },
                                                dot4Rows: .init({ PreparedDots.dot4RowsQ4_Kx4($0, $1, $2, $3, $4) }))
        case .q4_1:
            return QuantKernels.InterleavedPath(pack: { Interleave.packQ4_1x4($0, rowBytes: $1, $2) }, rowBytesMultiple: 20,
                                                dequantize: { SKEKernelsAVX512.SIMDDequant.dequantizeQ4_1x4($0, $1, $2, $3, $4, $5) },
                                                dot4Rows: .init({ PreparedDots.dot4RowsQ4_1x4($0, $1, $2, $3, $4) }))
        case .q5_0:
            return QuantKernels.InterleavedPath(pack: { Interleave.packQ5_0x4($0, rowBytes: $1, $2) }, rowBytesMultiple: 88,
                                                dequantize: { SKEKernelsAVX512.SIMDDequant.dequantizeQ5_0x4($0, $1, $2, $3, $4, $5) },
                                                dot4Rows: .init({ PreparedDots.dot4RowsQ5_0x4($0, $1, $2, $3, $4) }))
        default: return nil
        }
    }
}
#else
let avx2Dots: [GGMLType: DotKernel] = [:]
let avx512Dots: [GGMLType: DotKernel] = [:]
let avx2Dot4: [GGMLType: Dot4Kernel] = [:]
let avx512Dot4: [GGMLType: Dot4Kernel] = [:]
let avx2Dequant: [GGMLType: DequantizeKernel] = [:]
let avx512Dequant: [GGMLType: DequantizeKernel] = [:]
let avx512ActivationQuantizers: [GGMLType: QuantizeKernel] = [:]
extension FastDots {
    static func prepared(_ type: GGMLType) -> QuantKernels.PreparedPath? { nil }
}
#endif
