// The reference interpreter: evaluates any graph of primitive ops (forward and backward) node by node with
// the reference kernels, in Float or Double, one buffer per node. It is the graph's meaning written out, used
// to prove autodiff (against finite differences in Double and PyTorch in Float) and to check the executor.
// Not for speed; the KV-cache ops of inference graphs are not interpreted (use the Executor).
import RealModule
import SKEKernels

public enum GraphInterpreter {
    /// What a run reads: weights by name (f32 values, row-major [N, K] / [C]), the batch's ids and targets.
    public struct Inputs<F: Real & BinaryFloatingPoint> {
        public var weights: [String: [F]]
        public var tokens: [Int32]
        public var targets: [Int32]
        public init(weights: [String: [F]], tokens: [Int32], targets: [Int32] = []) {
            self.weights = weights; self.tokens = tokens; self.targets = targets
        }
    }

    /// Every node's value (empty for token/target nodes, whose ids are the inputs).
    public static func run<F: Real & BinaryFloatingPoint>(_ g: Graph, _ input: Inputs<F>) throws -> [[F]] {
        let t = input.tokens.count
        guard t >= 1, t <= g.limits.maxTokens else { throw GraphError.invalid(node: 0, op: "tokens", reason: "\(t) tokens for a graph of at most \(g.limits.maxTokens)") }
        if let s = g.sequence, t % s != 0 { throw GraphError.invalid(node: 0, op: "tokens", reason: "\(t) tokens are not whole sequences of \(s)") }
        let positions = (0..<t).map { i in Int32(g.sequence.map { i % $0 } ?? i) }
        var v = [[F]](repeating: [], count: g.nodes.count)
        func rows(_ n: Node) -> Int { n.rows == .tokens ? t : n.rows == .outputs ? 1 : (n.shape.count == 1 ? 1 : n.shape[0]) }
        func cols(_ n: Node) -> Int { n.shape.count == 1 ? (n.rows == .fixed ? n.shape[0] : 1) : n.shape.dropFirst().reduce(1, *) }
        func ids(_ n: Node) -> [Int32] { if case .targets = n.op { return input.targets }; return input.tokens }

        for n in g.nodes {
            let ins = n.inputs.map { g.nodes[$0] }
            let (r, c) = (rows(n), cols(n))
            func fail(_ why: String) -> GraphError { .invalid(node: n.id, op: n.op.name, reason: why) }
            var y = [F](repeating: 0, count: r * c)
            switch n.op {
            case .tokens, .targets:
                continue
            case .weight(let name):
                guard let w = input.weights[name], w.count == n.elementCount else { throw fail("no f32 values of \(n.elementCount) for '\(name)'") }
                y = w
            case .constant(let x):
                y = [F(x)]
            case .embedding(let scale):
                let table = v[n.inputs[0]], vocab = ins[0].shape[0]
                for (i, id) in ids(ins[1]).enumerated() {
                    guard id >= 0 && Int(id) < vocab else { throw fail("token \(id) outside the vocabulary") }
                    for j in 0..<c { y[i * c + j] = table[Int(id) * c + j] * F(scale) }
                }
            case .rmsNorm(let eps), .headNorm(let eps, _):
                var hs = c
                if case .headNorm(_, let h) = n.op { hs = h }
                Norm.rmsNormForward(x: v[n.inputs[0]], weight: v[n.inputs[1]], y: &y, rstd: nil, rows: r * c / hs, cols: hs, eps: F(eps))
            case .matmul:
                LinearF32.forward(x: v[n.inputs[0]], w: v[n.inputs[1]], bias: nil, y: &y, rows: r, inputs: cols(ins[0]), outputs: c)
            case .add:
                for i in y.indices { y[i] = v[n.inputs[0]][i] + v[n.inputs[1]][i] }
            case .addBias:
                for i in y.indices { y[i] = v[n.inputs[0]][i] + v[n.inputs[1]][i % c] }
            case .rope(let p, let hs):
                Rope.forward(x: v[n.inputs[0]], y: &y, tokens: r, heads: c / hs, headSize: hs, positions: positions, p)
            case .glu(let gelu):
                Activation.gluForward(gate: v[n.inputs[0]], up: v[n.inputs[1]], &y, count: y.count, gelu: gelu)
            case .causalAttention(let p, let s):
                var att = [F](repeating: 0, count: (t / s) * p.heads * s * s)
                Attention.forward(q: v[n.inputs[0]], k: v[n.inputs[1]], v: v[n.inputs[2]], out: &y, att: &att, batch: t / s, tokens: s, p)
            case .crossEntropy:
                let logits = v[n.inputs[0]], vocab = cols(ins[0])
                var losses = [F](repeating: 0, count: t), lse = losses
                CrossEntropy.forward(logits: logits, targets: ids(ins[1]), losses: &losses, lse: &lse, rows: t, vocab: vocab)
                y = [losses.reduce(0, +) / F(t)]
            case .outputRows:
                let x = v[n.inputs[0]]
                y = Array(x[((t - 1) * c)..<(t * c)])

            // Backward.
            case .embeddingGrad(let scale):
                let dy = v[n.inputs[0]], dc = cols(ins[0])
                for (i, id) in ids(ins[1]).enumerated() { for j in 0..<dc { y[Int(id) * dc + j] += dy[i * dc + j] * F(scale) } }
            case .rmsNormGradInput(let eps, let h), .rmsNormGradWeight(let eps, let h):
                let x = v[n.inputs[1]], xc = cols(ins[1])
                let hs = h == 0 ? xc : h, count = x.count / hs
                var rstd = [F](repeating: 0, count: count), scratch = x
                Norm.rmsNormForward(x: x, weight: nil, y: &scratch, rstd: &rstd, rows: count, cols: hs, eps: F(eps))
                if case .rmsNormGradInput = n.op {
                    Norm.rmsNormBackward(dy: v[n.inputs[0]], x: x, weight: v[n.inputs[2]], rstd: rstd, dx: &y, dw: nil, rows: count, cols: hs)
                } else {
                    var dx = [F](repeating: 0, count: x.count)
                    Norm.rmsNormBackward(dy: v[n.inputs[0]], x: x, weight: nil, rstd: rstd, dx: &dx, dw: &y, rows: count, cols: hs)
                }
            case .matmulGradInput:
                // dx [R, K] = dy [R, N] · W [N, K]
                let dy = v[n.inputs[0]], w = v[n.inputs[1]], nOut = cols(ins[0])
                for i in 0..<r { for o in 0..<nOut { let g = dy[i * nOut + o]; for k in 0..<c { y[i * c + k] += g * w[o * c + k] } } }
            case .matmulGradWeight:
                // dW [N, K] = dyᵀ [N, R] · x [R, K]
                let dy = v[n.inputs[0]], x = v[n.inputs[1]], rr = rows(ins[0])
                for i in 0..<rr { for o in 0..<r { let g = dy[i * r + o]; for k in 0..<c { y[o * c + k] += g * x[i * c + k] } } }
            case .sumRows:
                let dy = v[n.inputs[0]]
                for i in dy.indices { y[i % c] += dy[i] }
            case .ropeGrad(let p, let hs):
                Rope.apply(v[n.inputs[0]], &y, tokens: r, heads: c / hs, headSize: hs, positions: positions, p, sign: -1)
            case .gluGrad(let gelu, let up):
                var other = y
                if up {
                    Activation.gluBackward(dy: v[n.inputs[0]], gate: v[n.inputs[1]], up: v[n.inputs[2]], dGate: &other, dUp: &y, count: y.count, gelu: gelu)
                } else {
                    Activation.gluBackward(dy: v[n.inputs[0]], gate: v[n.inputs[1]], up: v[n.inputs[2]], dGate: &y, dUp: &other, count: y.count, gelu: gelu)
                }
            case .causalAttentionGrad(let p, let s, let which):
                let (q, k, vv) = (v[n.inputs[1]], v[n.inputs[2]], v[n.inputs[3]])
                var att = [F](repeating: 0, count: (t / s) * p.heads * s * s), out = q
                Attention.forward(q: q, k: k, v: vv, out: &out, att: &att, batch: t / s, tokens: s, p)
                var dq = [F](repeating: 0, count: q.count), dk = [F](repeating: 0, count: k.count), dv = dk, row = [F](repeating: 0, count: s)
                Attention.backward(dout: v[n.inputs[0]], q: q, k: k, v: vv, att: att, dq: &dq, dk: &dk, dv: &dv, scratch: &row, batch: t / s, tokens: s, p)
                y = [dq, dk, dv][which]
            case .crossEntropyGrad:
                let logits = v[n.inputs[1]], vocab = c
                var losses = [F](repeating: 0, count: t), lse = losses
                let targets = ids(ins[2])
                CrossEntropy.forward(logits: logits, targets: targets, losses: &losses, lse: &lse, rows: t, vocab: vocab)
                let dlosses = [F](repeating: v[n.inputs[0]][0] / F(t), count: t)
                CrossEntropy.backward(dlosses: dlosses, logits: logits, targets: targets, lse: lse, dlogits: &y, rows: t, vocab: vocab)

            case .kvWrite, .attention, .linear, .part, .ropeKV:
                throw fail("the interpreter runs primitive ops without a KV cache; run inference graphs with the Executor")
            }
            v[n.id] = y
        }
        return v
    }
}
