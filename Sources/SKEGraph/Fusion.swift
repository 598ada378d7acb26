// The fusion pass: a table of patterns, applied in table order, each one a rewrite of the whole graph.
// Every pattern can be switched off: SKE_NO_FUSION=glu,qkv,residual,norm,rope (or "all"). The verifier runs
// after each pattern. Fused and unfused graphs compute the same values (tests check it end to end).
//
//   glu      glu(x·Wgᵀ, x·Wuᵀ)            → linear(parts 2, epilogue glu): one pass over x, no gate/up tensors
//   qkv      x·W₁ᵀ, x·W₂ᵀ, … (same x)    → linear(parts n) + part views: x quantized once, one parallel region
//   residual r + x·Wᵀ                     → linear(epilogue add): the sum is written by the matmul
//   norm     rmsNorm(x)·Wᵀ                → linear(norm): each token normalized and quantized in one go
//   rope     kvWrite(rope(k))             → ropeKV: K is rotated while it is written into the cache
import SKECore

public struct FusionPattern: Sendable {
    public let name: String
    public let summary: String
    let rewrite: @Sendable (inout Rewriter) -> Void
}

public enum Fusion {
    public static let patterns: [FusionPattern] = [
        FusionPattern(name: "glu", summary: "gate/up matmuls + GLU in one pass", rewrite: fuseGLU),
        FusionPattern(name: "qkv", summary: "matmuls sharing an input in one pass", rewrite: fuseSharedInput),
        FusionPattern(name: "residual", summary: "residual add in the matmul's store", rewrite: fuseResidual),
        FusionPattern(name: "norm", summary: "RMSNorm + activation quantization as the matmul's prologue", rewrite: fuseNorm),
        FusionPattern(name: "rope", summary: "RoPE while writing K into the cache", rewrite: fuseRopeKV),
    ]

    /// The patterns SKE_NO_FUSION leaves on (names separated by commas; "all" or "1" turns every one off).
    public static func enabled(environment: [String: String] = ProcessEnvironment.all) throws -> [String] {
        let off = Set((environment["SKE_NO_FUSION"] ?? "").split(separator: ",").map { String($0.filter { $0 != " " }) })
        if off.contains("all") || off.contains("1") { return [] }
        let known = Set(patterns.map(\.name))
        if let bad = off.first(where: { !$0.isEmpty && !known.contains($0) }) {
            throw SKEError.invalidSetting("SKE_NO_FUSION has unknown pattern '\(bad)'; known: \(patterns.map(\.name).joined(separator: ", ")), all")
        }
        return patterns.map(\.name).filter { !off.contains($0) }
    }

    /// Applies the named patterns in table order, verifying after each.
    public static func run(_ g: Graph, patterns names: [String]) throws -> Graph {
        var g = g
        for p in patterns where names.contains(p.name) {
            var r = Rewriter(g)
            p.rewrite(&r)
            g = r.compact()
            try Verifier.verify(g)
        }
        return g
    }

    static func fuseGLU(_ r: inout Rewriter) {
        let users = r.graph.consumers()
        for n in r.graph.nodes {
            guard case .glu(let gelu) = n.op else { continue }
            let g = r.graph.nodes[n.inputs[0]], u = r.graph.nodes[n.inputs[1]]
            guard case .matmul = g.op, case .matmul = u.op, g.inputs[0] == u.inputs[0],
                  users[g.id] == [n.id], users[u.id] == [n.id] else { continue }
            let fused = r.make(.linear(parts: 2, norm: nil, epilogue: .glu(gelu: gelu)), n.shape, n.rows, [g.inputs[0], g.inputs[1], u.inputs[1]])
            r.remove(g.id); r.remove(u.id)
            r.replace(n.id, with: [fused])
        }
    }

    static func fuseSharedInput(_ r: inout Rewriter) {
        var groups: [Int: [Node]] = [:]
        for n in r.graph.nodes { if case .matmul = n.op { groups[n.inputs[0], default: []].append(n) } }
        for (x, members) in groups.sorted(by: { $0.key < $1.key }) where members.count > 1 {
            let rows = members[0].shape[0]
            let total = members.map { $0.shape[1] }.reduce(0, +)
            let fused = r.make(.linear(parts: members.count, norm: nil, epilogue: .none), [rows, total], members[0].rows,
                               [x] + members.map { $0.inputs[1] })
            var slot = [fused], offset = 0
            for (i, m) in members.enumerated() {
                let view = r.make(.part(index: i, elementOffset: offset), m.shape, m.rows, [fused.id])
                offset += rows * m.shape[1]
                slot.append(view)
                r.alias(m.id, to: view.id)
                r.remove(m.id)
            }
            r.replace(members[0].id, with: slot)
        }
    }

    static func fuseResidual(_ r: inout Rewriter) {
        let users = r.graph.consumers()
        for n in r.graph.nodes {
            guard case .add = n.op else { continue }
            for (mi, ri) in [(0, 1), (1, 0)] {
                let m = r.graph.nodes[n.inputs[mi]]
                guard case .matmul = m.op, users[m.id] == [n.id] else { continue }
                let fused = r.make(.linear(parts: 1, norm: nil, epilogue: .addResidual), n.shape, n.rows, [m.inputs[0], m.inputs[1], n.inputs[ri]])
                r.remove(m.id)
                r.replace(n.id, with: [fused])
                break
            }
        }
    }

    static func fuseNorm(_ r: inout Rewriter) {
        let users = r.graph.consumers()
        for n in r.graph.nodes {
            guard case .rmsNorm(let eps) = n.op, users[n.id].count == 1 else { continue }
            let c = r.graph.nodes[users[n.id][0]]
            guard c.inputs[0] == n.id else { continue }
            let op: Op
            switch c.op {
            case .matmul: op = .linear(parts: 1, norm: eps, epilogue: .none)
            case .linear(let parts, nil, let e): op = .linear(parts: parts, norm: eps, epilogue: e)
            default: continue
            }
            let fused = r.make(op, c.shape, c.rows, [n.inputs[0], n.inputs[1]] + c.inputs.dropFirst())
            r.remove(n.id)
            r.replace(c.id, with: [fused])
        }
    }

    static func fuseRopeKV(_ r: inout Rewriter) {
        let users = r.graph.consumers()
        for n in r.graph.nodes {
            guard case .kvWrite(let layer, false) = n.op else { continue }
            let rp = r.graph.nodes[n.inputs[0]]
            guard case .rope(let p, let hs) = rp.op, users[rp.id] == [n.id] else { continue }
            let fused = r.make(.ropeKV(layer: layer, p, headSize: hs), n.shape, n.rows, [rp.inputs[0]], dtype: .none)
            r.remove(rp.id)
            r.replace(n.id, with: [fused])
        }
    }
}

/// Edits a graph: nodes can be removed, replaced by new nodes at their place, or aliased to another value.
/// `compact` renumbers everything in execution order.
struct Rewriter {
    let graph: Graph
    var slots: [[Node]]
    var aliases: [Int: Int] = [:]
    var nextID: Int

    init(_ g: Graph) {
        graph = g
        slots = g.nodes.map { [$0] }
        nextID = g.nodes.count
    }

    mutating func make(_ op: Op, _ shape: [Int], _ rows: RowKind, _ inputs: [Int], dtype: DType = .f32) -> Node {
        defer { nextID += 1 }
        return Node(id: nextID, op: op, dtype: dtype, shape: shape, rows: rows, inputs: inputs)
    }
    /// Drops a node (its readers must have been redirected).
    mutating func remove(_ id: Int) { slots[id] = [] }
    /// Puts `nodes` where `id` was; readers of `id` read the first of them unless `alias` said otherwise.
    mutating func replace(_ id: Int, with nodes: [Node]) {
        slots[id] = nodes
        if aliases[id] == nil, let first = nodes.first { aliases[id] = first.id }
    }
    mutating func alias(_ id: Int, to other: Int) { aliases[id] = other }

    /// Renumbers in execution order: slot order, except that a node's inputs are placed before it (a fused
    /// node may read a weight that was declared after the node it replaced).
    func compact() -> Graph {
        var byID: [Int: Node] = [:]
        for slot in slots { for n in slot { byID[n.id] = n } }
        var map: [Int: Int] = [:]
        var out: [Node] = []
        func target(_ id: Int) -> Int {
            var i = id
            while let a = aliases[i], a != i { i = a }
            return i
        }
        func emit(_ id: Int) {
            if map[id] != nil { return }
            let n = byID[id]!
            for i in n.inputs { emit(target(i)) }
            map[id] = out.count
            out.append(Node(id: out.count, op: n.op, dtype: n.dtype, shape: n.shape, rows: n.rows, inputs: n.inputs.map { map[target($0)]! }))
        }
        for slot in slots { for n in slot { emit(n.id) } }
        var g = graph
        g.nodes = out
        g.output = map[target(graph.output)]!
        return g
    }
}
