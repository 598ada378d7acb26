// The verifier: after building and after every pass, each node's inputs must exist earlier in the list
// (execution order is the node order), and its dtype and shape must follow from its inputs by its op's rule.
// Runs always (it is linear in the node count and a graph has a few hundred nodes).
import SKECore
import SKEKernels

public enum Verifier {
    public static func verify(_ g: Graph) throws {
        for n in g.nodes {
            func fail(_ why: String) -> GraphError { .invalid(node: n.id, op: n.op.name, reason: why) }
            for i in n.inputs where i < 0 || i >= n.id { throw fail("input %\(i) is not computed before it") }
            let ins = n.inputs.map { g.nodes[$0] }
            func need(_ c: Bool, _ why: @autoclosure () -> String) throws { if !c { throw fail(why()) } }
            func isF32(_ x: Node) -> Bool { x.dtype == .f32 }
            func isF32Vector(_ x: Node, _ c: Int) -> Bool { x.dtype == .weight(.f32) && x.shape == [c] }
            func isMatrix(_ w: Node, k: Int) -> Bool {
                if case .weight(let t) = w.dtype { return w.shape.count == 2 && w.shape[1] == k && QuantTraits.kernels(t) != nil }
                return false
            }
            switch n.op {
            case .tokens:
                try need(n.dtype == .i32 && ins.isEmpty, "tokens are i32 with no inputs")
            case .weight:
                try need(ins.isEmpty, "weights have no inputs")
            case .embedding:
                try need(ins.count == 2 && ins[1].dtype == .i32 && ins[0].shape.count == 2, "embedding takes (table [V, C], ids)")
                try need(n.shape == [g.limits.maxTokens, ins[0].shape[1]] && isF32(n), "embedding gives f32 [T, C]")
            case .rmsNorm(let eps):
                try need(ins.count == 2 && isF32(ins[0]) && isF32Vector(ins[1], ins[0].shape.last!), "rms_norm takes (x f32 [R, C], w f32 [C])")
                try need(eps > 0 && n.shape == ins[0].shape, "rms_norm keeps the shape, eps > 0")
            case .headNorm(_, let hs):
                try need(ins.count == 2 && isF32(ins[0]) && isF32Vector(ins[1], hs), "head_norm takes (x [R, H·HS], w [HS])")
                try need(ins[0].shape.last! % hs == 0 && n.shape == ins[0].shape, "head_norm: columns are whole heads")
            case .matmul:
                try need(ins.count == 2 && isF32(ins[0]) && isMatrix(ins[1], k: ins[0].shape.last!), "matmul takes (x f32 [R, K], w [N, K]) with a kernel for w")
                try need(n.shape == [ins[0].shape[0], ins[1].shape[0]], "matmul gives [R, N]")
            case .add:
                try need(ins.count == 2 && ins[0].shape == ins[1].shape && isF32(ins[0]) && isF32(ins[1]) && n.shape == ins[0].shape, "add takes two f32 values of one shape")
            case .addBias:
                try need(ins.count == 2 && isF32Vector(ins[1], ins[0].shape.last!) && n.shape == ins[0].shape, "add_bias takes (x [R, N], b f32 [N])")
            case .rope(let p, let hs), .ropeKV(_, let p, let hs):
                try need(ins.count == 1 && isF32(ins[0]) && ins[0].rows == .tokens, "rope takes one f32 [T, H·HS]")
                try need(ins[0].shape.last! % hs == 0 && p.dims <= hs && p.dims % 2 == 0, "rope: whole heads, even rotated dims ≤ head size")
            case .kvWrite:
                try need(ins.count == 1 && isF32(ins[0]) && ins[0].rows == .tokens && n.dtype == .none, "kv_write takes one f32 [T, NKV·HS]")
            case .attention(let layer, let p):
                try need(ins.count == 3 && ins[1].dtype == .none && ins[2].dtype == .none, "attention takes (q, K write, V write)")
                try need(ins[0].shape.last! == p.heads * p.headSize && p.heads % p.kvHeads == 0, "attention: q has NH·HS columns, NH a multiple of NKV")
                try need(g.cacheRowValues.indices.contains(layer) && g.cacheRowValues[layer] == p.kvHeads * p.headSize, "attention: cache rows are NKV·HS")
            case .glu:
                try need(ins.count == 2 && ins[0].shape == ins[1].shape && n.shape == ins[0].shape, "glu takes (gate, up) of one shape")
            case .outputRows:
                try need(ins.count == 1 && ins[0].rows == .tokens && n.rows == .outputs && n.shape == [g.limits.maxOutputs, ins[0].shape[1]], "output_rows selects [O, C] from [T, C]")
            case .linear(let parts, let norm, let epilogue):
                let k = ins[0].shape.last!
                let first = norm == nil ? 1 : 2
                let extra = epilogue == .addResidual ? 1 : 0
                try need(ins.count == first + parts + extra, "linear takes x, [norm weight], \(parts) weights, [residual]")
                if norm != nil { try need(isF32Vector(ins[1], k), "linear's norm weight is f32 [K]") }
                let ws = ins[first..<(first + parts)]
                try need(ws.allSatisfy { isMatrix($0, k: k) }, "linear weights are [N, K] with kernels")
                let n0 = ws.first!.shape[0], rowsMax = ins[0].shape[0]
                switch epilogue {
                case .none: try need(n.shape == [rowsMax, ws.map { $0.shape[0] }.reduce(0, +)], "linear gives the parts side by side")
                case .addResidual: try need(parts == 1 && ins.last!.shape == [rowsMax, n0] && n.shape == [rowsMax, n0], "residual linear: one part, residual [R, N]")
                case .glu: try need(parts == 2 && ws.last!.shape[0] == n0 && n.shape == [rowsMax, n0], "glu linear: gate and up of one size")
                }
            case .targets:
                try need(n.dtype == .i32 && ins.isEmpty && g.sequence != nil, "targets are i32 with no inputs, in a training graph")
            case .causalAttention(let p, let sequence):
                try need(ins.count == 3 && ins.allSatisfy(isF32) && ins[0].shape.last! == p.heads * p.headSize, "causal_attention takes (q [T, NH·HS], k, v)")
                try need(ins[1].shape == ins[2].shape && ins[1].shape.last! == p.kvHeads * p.headSize && p.heads % p.kvHeads == 0, "causal_attention: k and v are [T, NKV·HS]")
                try need(sequence > 0 && g.limits.maxTokens % sequence == 0, "causal_attention: whole sequences per batch")
            case .crossEntropy:
                try need(ins.count == 2 && isF32(ins[0]) && ins[1].dtype == .i32 && n.shape == [1], "cross_entropy takes (logits [T, V], targets) and gives [1]")
            case .constant:
                try need(ins.isEmpty && n.shape == [1], "constant is a scalar")
            case .embeddingGrad, .rmsNormGradInput, .rmsNormGradWeight, .matmulGradInput, .matmulGradWeight, .sumRows, .ropeGrad,
                 .gluGrad, .causalAttentionGrad, .crossEntropyGrad:
                try need(isF32(n) && ins.first.map(isF32) == true, "gradients are f32 and read an f32 gradient")
            case .part(let index, let offset):
                guard ins.count == 1, case .linear(let parts, _, .none) = ins[0].op else { throw fail("part reads a multi-part linear") }
                try need(index < parts && offset + n.elementCount <= ins[0].elementCount, "part lies inside its parent")
            }
        }
        let isLoss = g.output >= 0 && g.output < g.nodes.count && g.sequence != nil && g.nodes[g.output].shape == [1]
        try need(isLoss || (g.output >= 0 && g.output < g.nodes.count && g.nodes[g.output].rows == .outputs),
                 "the output is an [O, V] value (or a training graph's loss)", node: g.output)
    }

    static func need(_ c: Bool, _ why: String, node: Int) throws {
        if !c { throw GraphError.invalid(node: node, op: "graph", reason: why) }
    }
}
