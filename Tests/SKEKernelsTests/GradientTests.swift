// Every op's backward against central finite differences, in Double on tiny shapes.
// L = Σ r ⊙ forward(inputs) with fixed random r, so dL/d(output) = r.
import Testing
@testable import SKEKernels
import SKECore

/// Compares `backward` (gradients of every input, accumulated from zero) with central differences.
func checkGradients(_ label: String, inputs: [[Double]], seed: UInt64 = 1,
                    forward: ([[Double]]) -> [Double],
                    backward: ([[Double]], [Double]) -> [[Double]],
                    h: Double = 1e-5, tolerance: Double = 1e-6, sourceLocation: SourceLocation = #_sourceLocation) {
    var rng = SeededRandom(seed: seed)
    let out = forward(inputs)
    let r = out.map { _ in Double(rng.normal()) }
    let analytic = backward(inputs, r)
    #expect(analytic.count == inputs.count, sourceLocation: sourceLocation)
    func loss(_ x: [[Double]]) -> Double { zip(forward(x), r).reduce(0) { $0 + $1.0 * $1.1 } }
    var worst = 0.0
    for (i, input) in inputs.enumerated() {
        for e in 0..<input.count {
            var plus = inputs, minus = inputs
            plus[i][e] += h; minus[i][e] -= h
            let numeric = (loss(plus) - loss(minus)) / (2 * h)
            let err = abs(numeric - analytic[i][e]) / max(1, abs(numeric), abs(analytic[i][e]))
            worst = max(worst, err)
        }
    }
    #expect(worst <= tolerance, "\(label): worst relative error \(worst)", sourceLocation: sourceLocation)
}

func randoms(_ n: Int, _ rng: inout SeededRandom, scale: Double = 1) -> [Double] { (0..<n).map { _ in Double(rng.normal()) * scale } }

@Suite("Backward vs finite differences (Double)")
struct GradientTests {
    @Test("RMSNorm", arguments: [(1, 1), (3, 7), (2, 16)])
    func rmsNorm(_ s: (Int, Int)) {
        let (n, c) = s
        var rng = SeededRandom(seed: 7)
        checkGradients("rmsnorm \(n)x\(c)", inputs: [randoms(n * c, &rng), randoms(c, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: n * c)
            Norm.rmsNormForward(x: i[0], weight: i[1], y: &y, rstd: nil, rows: n, cols: c, eps: 1e-5)
            return y
        }, backward: { i, dy in
            var rstd = [Double](repeating: 0, count: n), y = [Double](repeating: 0, count: n * c)
            Norm.rmsNormForward(x: i[0], weight: i[1], y: &y, rstd: &rstd, rows: n, cols: c, eps: 1e-5)
            var dx = [Double](repeating: 0, count: n * c), dw = [Double](repeating: 0, count: c)
            Norm.rmsNormBackward(dy: dy, x: i[0], weight: i[1], rstd: rstd, dx: &dx, dw: &dw, rows: n, cols: c)
            return [dx, dw]
        })
    }

    @Test("LayerNorm", arguments: [(1, 2), (3, 7)])
    func layerNorm(_ s: (Int, Int)) {
        let (n, c) = s
        var rng = SeededRandom(seed: 8)
        checkGradients("layernorm", inputs: [randoms(n * c, &rng), randoms(c, &rng), randoms(c, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: n * c)
            Norm.layerNormForward(x: i[0], weight: i[1], bias: i[2], y: &y, mean: nil, rstd: nil, rows: n, cols: c, eps: 1e-5)
            return y
        }, backward: { i, dy in
            var m = [Double](repeating: 0, count: n), r = [Double](repeating: 0, count: n), y = [Double](repeating: 0, count: n * c)
            Norm.layerNormForward(x: i[0], weight: i[1], bias: i[2], y: &y, mean: &m, rstd: &r, rows: n, cols: c, eps: 1e-5)
            var dx = [Double](repeating: 0, count: n * c), dw = [Double](repeating: 0, count: c), db = [Double](repeating: 0, count: c)
            Norm.layerNormBackward(dy: dy, x: i[0], weight: i[1], mean: m, rstd: r, dx: &dx, dw: &dw, db: &db, rows: n, cols: c)
            return [dx, dw, db]
        })
    }

    @Test("RoPE, both layouts, partial rotation", arguments: [RopeLayout.normal, .neox], [8, 6])
    func rope(_ layout: RopeLayout, dims: Int) {
        let t = 3, h = 2, hs = 8
        var rng = SeededRandom(seed: 9)
        let pos: [Int32] = [0, 5, 17]
        let p = RopeParameters(base: 10000, freqScale: 0.5, dims: dims, layout: layout)
        checkGradients("rope \(layout)", inputs: [randoms(t * h * hs, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: i[0].count)
            Rope.forward(x: i[0], y: &y, tokens: t, heads: h, headSize: hs, positions: pos, p)
            return y
        }, backward: { i, dy in
            var dx = [Double](repeating: 0, count: dy.count), s = [Double](repeating: 0, count: dy.count)
            Rope.backward(dy: dy, dx: &dx, scratch: &s, tokens: t, heads: h, headSize: hs, positions: pos, p)
            return [dx]
        })
    }

    @Test("Softmax")
    func softmax() {
        var rng = SeededRandom(seed: 10)
        checkGradients("softmax", inputs: [randoms(3 * 5, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: 15)
            Softmax.forward(i[0], &y, rows: 3, cols: 5)
            return y
        }, backward: { i, dy in
            var y = [Double](repeating: 0, count: 15), dx = [Double](repeating: 0, count: 15)
            Softmax.forward(i[0], &y, rows: 3, cols: 5)
            Softmax.backward(dy: dy, y: y, dx: &dx, rows: 3, cols: 5)
            return [dx]
        })
    }

    @Test("SiLU and GELU")
    func activations() {
        var rng = SeededRandom(seed: 11)
        let x = randoms(13, &rng, scale: 2)
        for useGelu in [false, true] {
            checkGradients(useGelu ? "gelu" : "silu", inputs: [x], forward: { i in
                var y = [Double](repeating: 0, count: 13)
                if useGelu { Activation.geluForward(i[0], &y, count: 13) } else { Activation.siluForward(i[0], &y, count: 13) }
                return y
            }, backward: { i, dy in
                var dx = [Double](repeating: 0, count: 13)
                if useGelu { Activation.geluBackward(dy: dy, x: i[0], dx: &dx, count: 13) } else { Activation.siluBackward(dy: dy, x: i[0], dx: &dx, count: 13) }
                return [dx]
            })
        }
    }

    @Test("SwiGLU and GeGLU", arguments: [false, true])
    func glu(_ useGelu: Bool) {
        var rng = SeededRandom(seed: 12)
        checkGradients("glu", inputs: [randoms(11, &rng, scale: 2), randoms(11, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: 11)
            Activation.gluForward(gate: i[0], up: i[1], &y, count: 11, gelu: useGelu)
            return y
        }, backward: { i, dy in
            var dg = [Double](repeating: 0, count: 11), du = [Double](repeating: 0, count: 11)
            Activation.gluBackward(dy: dy, gate: i[0], up: i[1], dGate: &dg, dUp: &du, count: 11, gelu: useGelu)
            return [dg, du]
        })
    }

    @Test("residual add with scale")
    func residual() {
        var rng = SeededRandom(seed: 13)
        checkGradients("residual", inputs: [randoms(5, &rng), randoms(5, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: 5)
            Residual.forward(i[0], i[1], scale: 0.3, &y, count: 5)
            return y
        }, backward: { _, dy in
            var da = [Double](repeating: 0, count: 5), db = [Double](repeating: 0, count: 5)
            Residual.backward(dy: dy, scale: 0.3, da: &da, db: &db, count: 5)
            return [da, db]
        })
    }

    static let attentionCases: [AttentionParameters] = [
        AttentionParameters(heads: 2, kvHeads: 2, headSize: 4),
        AttentionParameters(heads: 4, kvHeads: 2, headSize: 3),                 // GQA
        AttentionParameters(heads: 2, kvHeads: 1, headSize: 4, window: 2),      // sliding window, MQA
        AttentionParameters(heads: 2, kvHeads: 1, headSize: 4, softCap: 1.5),   // soft-capping
    ]

    @Test("causal attention (GQA, sliding window, soft-cap)", arguments: attentionCases)
    func attention(_ p: AttentionParameters) {
        let b = 2, t = 4
        var rng = SeededRandom(seed: 14)
        let qn = b * t * p.heads * p.headSize, kn = b * t * p.kvHeads * p.headSize
        checkGradients("attention", inputs: [randoms(qn, &rng), randoms(kn, &rng), randoms(kn, &rng)], forward: { i in
            var out = [Double](repeating: 0, count: qn), att = [Double](repeating: 0, count: b * p.heads * t * t)
            Attention.forward(q: i[0], k: i[1], v: i[2], out: &out, att: &att, batch: b, tokens: t, p)
            return out
        }, backward: { i, dy in
            var out = [Double](repeating: 0, count: qn), att = [Double](repeating: 0, count: b * p.heads * t * t)
            Attention.forward(q: i[0], k: i[1], v: i[2], out: &out, att: &att, batch: b, tokens: t, p)
            var dq = [Double](repeating: 0, count: qn), dk = [Double](repeating: 0, count: kn), dv = [Double](repeating: 0, count: kn)
            var s = [Double](repeating: 0, count: t)
            Attention.backward(dout: dy, q: i[0], k: i[1], v: i[2], att: att, dq: &dq, dk: &dk, dv: &dv, scratch: &s, batch: b, tokens: t, p)
            return [dq, dk, dv]
        })
    }

    @Test("cross-entropy fused with softmax (an ignored target gets no gradient)")
    func crossEntropy() {
        var rng = SeededRandom(seed: 15)
        let targets: [Int32] = [2, 0, -1, 4]
        checkGradients("cross-entropy", inputs: [randoms(4 * 5, &rng, scale: 2)], forward: { i in
            var l = [Double](repeating: 0, count: 4), lse = [Double](repeating: 0, count: 4)
            CrossEntropy.forward(logits: i[0], targets: targets, losses: &l, lse: &lse, rows: 4, vocab: 5)
            return l
        }, backward: { i, dy in
            var l = [Double](repeating: 0, count: 4), lse = [Double](repeating: 0, count: 4)
            CrossEntropy.forward(logits: i[0], targets: targets, losses: &l, lse: &lse, rows: 4, vocab: 5)
            var d = [Double](repeating: 0, count: 20)
            CrossEntropy.backward(dlosses: dy, logits: i[0], targets: targets, lse: lse, dlogits: &d, rows: 4, vocab: 5)
            return [d]
        })
    }

    @Test("linear layer: dX = dY·W and dW = dYᵀ·X without transposes")
    func linear() {
        var rng = SeededRandom(seed: 16)
        let n = 3, k = 5, m = 4
        checkGradients("linear", inputs: [randoms(n * k, &rng), randoms(m * k, &rng), randoms(m, &rng)], forward: { i in
            var y = [Double](repeating: 0, count: n * m)
            LinearF32.forward(x: i[0], w: i[1], bias: i[2], y: &y, rows: n, inputs: k, outputs: m)
            return y
        }, backward: { i, dy in
            var dx = [Double](repeating: 0, count: n * k), dw = [Double](repeating: 0, count: m * k), db = [Double](repeating: 0, count: m)
            LinearF32.backward(dy: dy, x: i[0], w: i[1], dx: &dx, dw: &dw, dbias: &db, rows: n, inputs: k, outputs: m)
            return [dx, dw, db]
        })
    }

    @Test("embedding: forward from quantized rows, scatter-add backward with repeated ids")
    func embedding() throws {
        var rng = SeededRandom(seed: 17)
        let v = 5, c = 32
        let table = (0..<(v * c)).map { _ in rng.normal() }
        var q8 = [UInt8](repeating: 0, count: GGMLType.q8_0.byteCount(elements: v * c)!)
        table.withUnsafeBufferPointer { t in q8.withUnsafeMutableBytes { QuantReference.quantizeQ8_0(t.baseAddress!, $0.baseAddress!, v * c) } }
        let ids: [Int32] = [3, 1, 3]
        var y = [Float](repeating: 0, count: 3 * c)
        #expect(q8.withUnsafeBytes { Embedding.forward(table: $0.baseAddress!, type: .q8_0, vocab: v, cols: c, ids: ids, count: 3, y: &y) })
        var row = [Float](repeating: 0, count: c)
        q8.withUnsafeBytes { QuantReference.dequantizeQ8_0($0.baseAddress! + 3 * 34, &row, c) }
        #expect(Array(y[0..<c]) == row && Array(y[(2 * c)...]) == row)
        let bad: [Int32] = [5]
        #expect(!q8.withUnsafeBytes { Embedding.forward(table: $0.baseAddress!, type: .q8_0, vocab: v, cols: c, ids: bad, count: 1, y: &y) })
        let dy = (0..<(3 * c)).map { Float($0) }
        var dT = [Float](repeating: 0, count: v * c)
        Embedding.backward(dy: dy, ids: ids, count: 3, cols: c, dTable: &dT, vocab: v)
        for j in 0..<c { #expect(dT[3 * c + j] == dy[j] + dy[2 * c + j] && dT[c + j] == dy[c + j] && dT[j] == 0) }
    }

    @Test("decode attention over a cache equals the training forward's last row")
    func decodeMatchesForward() {
        let p = AttentionParameters(heads: 4, kvHeads: 2, headSize: 8, window: 3, softCap: 5)
        let t = 6
        var rng = SeededRandom(seed: 18)
        let q = (0..<(t * 4 * 8)).map { _ in rng.normal() }, k = (0..<(t * 2 * 8)).map { _ in rng.normal() }, v = (0..<(t * 2 * 8)).map { _ in rng.normal() }
        var out = [Float](repeating: 0, count: q.count), att = [Float](repeating: 0, count: 4 * t * t)
        Attention.forward(q: q, k: k, v: v, out: &out, att: &att, batch: 1, tokens: t, p)
        var dec = [Float](repeating: 0, count: q.count), row = [Float](repeating: 0, count: t)
        let pos = (0..<t).map { Int32($0) }
        Attention.decode(q: q, positions: pos, tokens: t, kCache: k, vCache: v, cacheLength: t, out: &dec, row: &row, p)
        for i in 0..<out.count { #expect(abs(out[i] - dec[i]) <= 1e-6) }
    }
}

extension AttentionParameters: CustomTestStringConvertible {
    public var testDescription: String { "NH \(heads) NKV \(kvHeads) HS \(headSize) window \(window) cap \(softCap)" }
}
