// Kernel function values as table entries. A Dictionary (or any generic container) keeps a bare function value
// at maximal abstraction, so a function taken out of one is wrapped in reabstraction thunks that run on every
// call — two extra calls per row dot on the decode path. A function stored in a (non-generic) struct field
// keeps its natural calling convention, so the kernel tables hold these boxes.

/// Σ w·a over one row of k values (weights in their block format, activations in the paired format).
public struct DotKernel: Sendable {
    public let call: @Sendable (_ weights: UnsafeRawPointer, _ activations: UnsafeRawPointer, _ k: Int) -> Float
    public init(_ call: @escaping @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float) { self.call = call }
}

/// One row of k values from blocks to f32.
public struct DequantizeKernel: Sendable {
    public let call: @Sendable (_ blocks: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ k: Int) -> Void
    public init(_ call: @escaping @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void) { self.call = call }
}

/// A prepared-activation path: the sidecar builder and the dot over (blocks + sidecar).
public struct PreparedKernel: Sendable {
    public let prepare: @Sendable (_ blocks: UnsafeRawPointer, _ k: Int, _ sidecar: UnsafeMutableRawPointer) -> Void
    public let dot: @Sendable (_ weights: UnsafeRawPointer, _ activations: UnsafeRawPointer, _ k: Int) -> Float
    public init(prepare: @escaping @Sendable (UnsafeRawPointer, Int, UnsafeMutableRawPointer) -> Void,
                dot: @escaping @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float) {
        self.prepare = prepare; self.dot = dot
    }
}

/// Four activation rows at once: out[i·outStride] = W·A_i with A_i at activations + i·stride, each equal to the
/// one-row prepared dot's value (the weight row is unpacked once for the four).
public struct Dot4Kernel: Sendable {
    public let call: @Sendable (_ weights: UnsafeRawPointer, _ activations: UnsafeRawPointer, _ stride: Int, _ k: Int,
                                _ out: UnsafeMutablePointer<Float>, _ outStride: Int) -> Void
    public init(_ call: @escaping @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void) { self.call = call }
}

/// Four weight rows at once (decode): out[i] = W[i]·A for the rows at weights + i·rowBytes, each equal to the
/// one-row prepared dot's value (four independent accumulator chains instead of one). A C function pointer, not a
/// closure: decode calls it once per four rows on every thread, and a closure value taken out of a box or captured
/// variable was retained and released around each call (atomics on one shared count from both threads).
public struct Dot4RowsKernel: Sendable {
    public typealias Function = @convention(c) (_ weights: UnsafeRawPointer, _ rowBytes: Int, _ activations: UnsafeRawPointer, _ k: Int,
                                                _ out: UnsafeMutablePointer<Float>) -> Void
    public let call: Function
    public init(_ call: Function) { self.call = call }
}

/// One row of k floats into blocks of a (quantized) format.
public struct QuantizeKernel: Sendable {
    public let call: @Sendable (_ x: UnsafePointer<Float>, _ blocks: UnsafeMutableRawPointer, _ k: Int) -> Void
    public init(_ call: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void) { self.call = call }
}

/// Prefill's GEMM over weight rows unpacked 16 at a time into a panel, once per batch (SKEKernelsAVX512/PanelGemm.swift):
/// `pack(w, rowBytes, row0, count, grouped, panel)` writes rows row0 ..< row0 + count (≤ 16) of the tensor at w (rows
/// below `grouped` in the type's four-row interleaved layout, the others in file order) into `panel` (`panelBytes(k)`
/// bytes); `multiply(panel, k, a, stride, tokens, acc, out)` writes out[16t + r] = row r · activation row t (prepared,
/// at a + t·stride) for t < tokens (1…4), each equal to the one-row prepared dot bit for bit, with `accumulatorFloats(k:)`
/// floats of 64-byte aligned scratch at acc. C function pointers (called per panel and per four tokens on every thread).
public struct PanelGemmKernel: Sendable {
    public typealias Pack = @convention(c) (_ w: UnsafeRawPointer, _ rowBytes: Int, _ row0: Int, _ count: Int, _ grouped: Int,
                                            _ panel: UnsafeMutableRawPointer) -> Void
    public typealias Multiply = @convention(c) (_ panel: UnsafeRawPointer, _ k: Int, _ a: UnsafeRawPointer, _ stride: Int, _ tokens: Int,
                                                _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>) -> Void
    public static let rows = 16
    public let pack: Pack, multiply: Multiply
    /// Panel bytes per `blockValues` values of a row.
    public let blockBytes: Int, blockValues: Int
    /// Scratch floats `multiply` takes: `fixedFloats`, plus `floatsPerBlock` per `blockValues` values of a row.
    let fixedFloats: Int, floatsPerBlock: Int
    public init(pack: Pack, multiply: Multiply, blockBytes: Int, blockValues: Int, fixedFloats: Int, floatsPerBlock: Int) {
        self.pack = pack; self.multiply = multiply; self.blockBytes = blockBytes; self.blockValues = blockValues
        self.fixedFloats = fixedFloats; self.floatsPerBlock = floatsPerBlock
    }
    /// Floats of scratch `multiply` takes for rows of k values.
    public func accumulatorFloats(k: Int) -> Int { fixedFloats + k / blockValues * floatsPerBlock }
    /// Bytes of one panel of rows of k values.
    public func panelBytes(k: Int) -> Int { k / blockValues * blockBytes }
}
