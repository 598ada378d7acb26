// Rotary position embedding, forward and backward, in llama.cpp's two layouts.
//
// Shapes: x [T, H, HS] (T tokens, H heads, head size HS), positions [T]; the first `dims` (≤ HS, even)
// values of each head are rotated, the rest pass through.
//   .normal (llama.cpp GGML_ROPE_TYPE_NORM, Llama): pairs (2i, 2i+1)
//   .neox   (GGML_ROPE_TYPE_NEOX, Qwen, Gemma):    pairs (i, i + dims/2)
// θ_i = pos·freqScale·base^(−2i/dims), computed as llama.cpp does (θ multiplied by base^(−2/dims) per pair,
// in the element type) so angles round the same way. Backward = rotation by −θ (the transpose).
// Saved for backward: nothing (positions only). Not done: YaRN / LongRoPE scaling (ext_factor 0 only).
import RealModule

public enum RopeLayout: String, Sendable, Codable { case normal, neox }

public struct RopeParameters: Sendable {
    public var base: Double
    public var freqScale: Double
    public var dims: Int
    public var layout: RopeLayout
    public init(base: Double, freqScale: Double = 1, dims: Int, layout: RopeLayout) {
        self.base = base; self.freqScale = freqScale; self.dims = dims; self.layout = layout
    }
}

public enum Rope {
    /// Rotates x in place (y = x is allowed: pass the same pointer). `sign` −1 gives the inverse rotation.
    @inlinable @_specialize(where F == Float)
    public static func apply<F: Real & BinaryFloatingPoint>(
        _ x: UnsafePointer<F>, _ y: UnsafeMutablePointer<F>, tokens t: Int, heads h: Int, headSize hs: Int,
        positions: UnsafePointer<Int32>, _ p: RopeParameters, sign: F = 1
    ) {
        // The angles depend on the token only: cos/sin once per token, shared by its heads.
        withUnsafeTemporaryAllocation(of: F.self, capacity: Swift.max(p.dims, 2)) { cs in
            for ti in 0..<t {
                angles(positions + ti, tokens: 1, p, into: cs.baseAddress!, sign: sign)
                rotate(x + ti * h * hs, y + ti * h * hs, tokens: 1, heads: h, headSize: hs, angles: cs.baseAddress!, p)
            }
        }
    }

    /// The rotation's cosines and sines at each position: table [T, dims], per token dims/2 cosines then dims/2 sines
    /// (times `sign`). A model's layers rotate Q and K at the same positions: the executor computes this once per batch.
    @inlinable @_specialize(where F == Float)
    public static func angles<F: Real & BinaryFloatingPoint>(_ positions: UnsafePointer<Int32>, tokens t: Int, _ p: RopeParameters,
                                                             into table: UnsafeMutablePointer<F>, sign: F = 1) {
        let half = p.dims / 2, thetaScale = F.pow(F(p.base), -2 / F(p.dims))
        for ti in 0..<t {
            let cosines = table + ti * p.dims, sines = cosines + half
            var theta = F(positions[ti]) * F(p.freqScale)
            for i in 0..<half {
                cosines[i] = F.cos(theta); sines[i] = F.sin(theta) * sign
                theta *= thetaScale
            }
        }
    }

    /// Rotates x [T, H, HS] into y (y = x allowed) by `angles` [T, dims] (see `angles`).
    @inlinable @_specialize(where F == Float)
    public static func rotate<F: Real & BinaryFloatingPoint>(_ x: UnsafePointer<F>, _ y: UnsafeMutablePointer<F>, tokens t: Int, heads h: Int,
                                                             headSize hs: Int, angles table: UnsafePointer<F>, _ p: RopeParameters) {
        let dims = p.dims, half = dims / 2
        for ti in 0..<t {
            let cosines = table + ti * dims, sines = cosines + half
            for hi in 0..<h {
                let xo = x + (ti * h + hi) * hs, yo = y + (ti * h + hi) * hs
                for i in 0..<half {
                    let c = cosines[i], s = sines[i]
                    let (a, b) = p.layout == .normal ? (2 * i, 2 * i + 1) : (i, i + half)
                    let x0 = xo[a], x1 = xo[b]
                    yo[a] = x0 * c - x1 * s
                    yo[b] = x0 * s + x1 * c
                }
                if dims < hs && xo != UnsafePointer(yo) { for j in dims..<hs { yo[j] = xo[j] } }
            }
        }
    }

    @inlinable @_specialize(where F == Float)
    public static func forward<F: Real & BinaryFloatingPoint>(
        x: UnsafePointer<F>, y: UnsafeMutablePointer<F>, tokens t: Int, heads h: Int, headSize hs: Int,
        positions: UnsafePointer<Int32>, _ p: RopeParameters
    ) { apply(x, y, tokens: t, heads: h, headSize: hs, positions: positions, p, sign: 1) }

    /// dx += Rᵀ·dy (uses `scratch` [T, H, HS] for the rotated gradient).
    @inlinable @_specialize(where F == Float)
    public static func backward<F: Real & BinaryFloatingPoint>(
        dy: UnsafePointer<F>, dx: UnsafeMutablePointer<F>, scratch: UnsafeMutablePointer<F>, tokens t: Int, heads h: Int,
        headSize hs: Int, positions: UnsafePointer<Int32>, _ p: RopeParameters
    ) {
        apply(dy, scratch, tokens: t, heads: h, headSize: hs, positions: positions, p, sign: -1)
        for i in 0..<(t * h * hs) { dx[i] += scratch[i] }
    }
}
