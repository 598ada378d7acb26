// Autodiff: the backward graph from the forward IR, one rule per primitive op (tinygrad's shape: a table of
// rules). A rule reads the forward node and the gradient of its output and adds the nodes that give the
// gradient of each input (nil where none flows: token ids, targets). Walking the forward nodes in reverse,
// gradients that reach one value from several consumers are summed with `add` (a value that fans out).
// Backward ops are ordinary IR ops (ggml's way), so the result is verified, planned and run like any graph.
//
// Gradients flow to f32 values and f32 weights; quantized weights are frozen (no gradient node).

/// A forward graph plus its backward nodes.
public struct TrainingGraph: Sendable {
    public let graph: Graph
    /// The loss node ([1]).
    public let loss: Int
    /// d loss / d weight, for every f32 weight that the loss depends on: weight name → gradient node (same shape).
    public let gradients: [(name: String, node: Int)]
}

public enum Autodiff {
    /// Adds backward nodes to a copy of the forward graph.
    public struct Builder {
        public private(set) var nodes: [Node]
        init(_ nodes: [Node]) { self.nodes = nodes }
        public func node(_ id: Int) -> Node { nodes[id] }
        /// A new f32 node with `like`'s shape and rows (a gradient has its value's shape).
        public mutating func grad(_ op: Op, like: Int, _ inputs: [Int]) -> Int {
            let n = nodes[like]
            return add(op, n.shape, n.rows, inputs)
        }
        public mutating func add(_ op: Op, _ shape: [Int], _ rows: RowKind, _ inputs: [Int]) -> Int {
            nodes.append(Node(id: nodes.count, op: op, dtype: .f32, shape: shape, rows: rows, inputs: inputs))
            return nodes.count - 1
        }
    }

    /// (builder, forward node, gradient of its output) → gradient of each input (nil: none flows there).
    public typealias Rule = @Sendable (inout Builder, Node, Int) -> [Int?]

    /// One rule per differentiable op, keyed by `Op.name`.
    public static let rules: [String: Rule] = [
        "embedding": { b, n, dy in
            guard case .embedding(let scale) = n.op else { return [] }
            return [b.grad(.embeddingGrad(scale: scale), like: n.inputs[0], [dy, n.inputs[1]]), nil]
        },
        "rms_norm": { b, n, dy in
            guard case .rmsNorm(let eps) = n.op else { return [] }
            let (x, w) = (n.inputs[0], n.inputs[1])
            return [b.grad(.rmsNormGradInput(eps: eps, headSize: 0), like: x, [dy, x, w]),
                    b.grad(.rmsNormGradWeight(eps: eps, headSize: 0), like: w, [dy, x])]
        },
        "head_norm": { b, n, dy in
            guard case .headNorm(let eps, let hs) = n.op else { return [] }
            let (x, w) = (n.inputs[0], n.inputs[1])
            return [b.grad(.rmsNormGradInput(eps: eps, headSize: hs), like: x, [dy, x, w]),
                    b.grad(.rmsNormGradWeight(eps: eps, headSize: hs), like: w, [dy, x])]
        },
        "matmul": { b, n, dy in
            let (x, w) = (n.inputs[0], n.inputs[1])
            return [b.grad(.matmulGradInput, like: x, [dy, w]), b.grad(.matmulGradWeight, like: w, [dy, x])]
        },
        "add": { _, _, dy in [dy, dy] },
        "add_bias": { b, n, dy in [dy, b.grad(.sumRows, like: n.inputs[1], [dy])] },
        "rope": { b, n, dy in
            guard case .rope(let p, let hs) = n.op else { return [] }
            return [b.grad(.ropeGrad(p, headSize: hs), like: n.inputs[0], [dy])]
        },
        "glu": { b, n, dy in
            guard case .glu(let gelu) = n.op else { return [] }
            let (g, u) = (n.inputs[0], n.inputs[1])
            return [b.grad(.gluGrad(gelu: gelu, up: false), like: g, [dy, g, u]), b.grad(.gluGrad(gelu: gelu, up: true), like: u, [dy, g, u])]
        },
        "causal_attention": { b, n, dy in
            guard case .causalAttention(let p, let s) = n.op else { return [] }
            let qkv = n.inputs
            return (0..<3).map { i in b.grad(.causalAttentionGrad(p, sequence: s, input: i), like: qkv[i], [dy] + qkv) }
        },
        "cross_entropy": { b, n, dy in
            [b.grad(.crossEntropyGrad, like: n.inputs[0], [dy, n.inputs[0], n.inputs[1]]), nil]
        },
    ]

    /// The backward pass of a training graph (its output is the loss).
    public static func backward(_ g: Graph) throws -> TrainingGraph {
        guard g.sequence != nil, g.nodes[g.output].shape == [1] else {
            throw GraphError.invalid(node: g.output, op: g.nodes[g.output].op.name, reason: "autodiff needs a training graph ending in a loss")
        }
        var b = Builder(g.nodes)
        var grads: [Int: Int] = [:]
        grads[g.output] = b.add(.constant(1), [1], .fixed, [])
        for node in g.nodes[...g.output].reversed() {
            guard let dy = grads[node.id] else { continue }
            switch node.op {
            case .weight, .tokens, .targets, .constant: continue
            default: break
            }
            guard let rule = rules[node.op.name] else {
                throw GraphError.invalid(node: node.id, op: node.op.name, reason: "no gradient rule for this op")
            }
            for (input, gi) in zip(node.inputs, rule(&b, node, dy)) {
                guard let gi else { continue }
                let value = b.node(input)
                if case .weight(let t) = value.dtype, t != .f32 { continue }   // quantized weights are frozen
                grads[input] = grads[input].map { b.grad(.add, like: input, [$0, gi]) } ?? gi
            }
        }
        var out = g
        out.nodes = b.nodes
        try Verifier.verify(out)
        let gradients = g.nodes.compactMap { n -> (String, Int)? in
            guard case .weight(let name) = n.op, let d = grads[n.id] else { return nil }
            return (name, d)
        }
        return TrainingGraph(graph: out, loss: g.output, gradients: gradients)
    }
}
