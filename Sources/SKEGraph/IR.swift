// The IR: one immutable node type, one op enum, a builder.
//
// A graph describes one forward step of a model over a batch of T tokens (T ≤ `maxTokens`, decided at run
// time) that produces logits for O of those rows (O ≤ `maxOutputs`). Every activation is row-major with rows
// first: `rows` says whether the leading dimension counts batch tokens (.tokens), output rows (.outputs) or is
// fixed (.fixed: weights, per-channel vectors). Shapes hold the maxima; the planner sizes buffers with them.
//
// Ops with side effects on the KV cache (`kvWrite`, `ropeKV`) produce an empty "token" value that the attention
// node takes as an input, so ordering is plain data dependence.
import SKECore
import SKEKernels

public enum DType: Hashable, Sendable, CustomStringConvertible {
    case f32, i32
    /// A stored weight in a GGUF block format (f32 weights are `.weight(.f32)`).
    case weight(GGMLType)
    /// An ordering token (no data).
    case none
    public var description: String {
        switch self {
        case .f32: "f32"
        case .i32: "i32"
        case .weight(let t): "\(t)"
        case .none: "token"
        }
    }
}

public enum RowKind: Hashable, Sendable { case fixed, tokens, outputs }

/// How a linear (matmul) node finishes each output value.
public enum Epilogue: Hashable, Sendable {
    case none
    /// y = residual + x·Wᵀ (the residual is the node's last input).
    case addResidual
    /// Two parts (gate, up) → y = act(gate)·up, one [R, F] output.
    case glu(gelu: Bool)
}

public indirect enum Op: Sendable, CustomStringConvertible {
    // Sources.
    /// Token ids of the batch, i32 [T].
    case tokens
    /// A stored tensor, by name; dtype = its stored type, shape [N, K] (or [C]).
    case weight(String)

    // Primitive compute (what architectures emit).
    /// (table [V, C], tokens [T]) → [T, C] · scale.
    case embedding(scale: Float)
    /// (x [R, C], w [C]) → x / rms(x) · w.
    case rmsNorm(eps: Float)
    /// (x [R, H·HS], w [HS]) → rmsNorm over each head's HS values (Qwen3/Gemma3 QK-norm).
    case headNorm(eps: Float, headSize: Int)
    /// (x [R, K], w [N, K]) → [R, N] = x·Wᵀ.
    case matmul
    /// (a, b) → a + b (same shape).
    case add
    /// (x [R, N], b [N]) → x + b per row.
    case addBias
    /// (x [T, H·HS]) → rotated (positions from the runtime).
    case rope(RopeParameters, headSize: Int)
    /// (x [T, NKV·HS]) → writes rows into layer `layer`'s K (value: false) or V cache at the batch positions.
    case kvWrite(layer: Int, value: Bool)
    /// (q [T, NH·HS], kWritten, vWritten) → [T, NH·HS]: causal attention over the cache, keys up to each position.
    case attention(layer: Int, AttentionParameters)
    /// (gate [R, F], up [R, F]) → act(gate)·up (SiLU, or GELU-tanh when gelu).
    case glu(gelu: Bool)
    /// (x [T, C]) → [O, C]: the rows the caller asked logits for.
    case outputRows

    // Fused (made by Fusion only).
    /// (x [R, K], normWeight [K]?, w₁ … wₙ, residual?) → the parts' outputs stored part after part
    /// ([R, N₁] then [R, N₂] …), or one [R, F] with a GLU epilogue. `norm` = RMSNorm the input first (eps).
    case linear(parts: Int, norm: Float?, epilogue: Epilogue)
    /// (parent) → a view of part `index` of a multi-part linear: `elementOffset` values from the parent's base.
    case part(index: Int, elementOffset: Int)
    /// (x [T, NKV·HS]) → rotates and writes the rows straight into layer `layer`'s K cache.
    case ropeKV(layer: Int, RopeParameters, headSize: Int)

    // Training (whole sequences, no cache). T = batch × `sequence` rows; rope positions are row % sequence.
    /// Next-token targets of the batch, i32 [T].
    case targets
    /// (q [T, NH·HS], k [T, NKV·HS], v [T, NKV·HS]) → [T, NH·HS]: causal attention within each sequence.
    case causalAttention(AttentionParameters, sequence: Int)
    /// (logits [T, V], targets [T]) → [1]: the mean cross-entropy.
    case crossEntropy
    /// A constant [1] (the seed of the backward pass, d loss / d loss = 1).
    case constant(Float)

    // Backward (made by Autodiff only): each is the gradient with respect to one input of one forward op.
    /// (dy [T, C], ids [T]) → d table [V, C] (V = the shape's rows).
    case embeddingGrad(scale: Float)
    /// (dy, x, w) → dx of rms_norm / head_norm (headSize 0 = the whole row).
    case rmsNormGradInput(eps: Float, headSize: Int)
    /// (dy, x) → dw [C] (or [HS]) of rms_norm / head_norm.
    case rmsNormGradWeight(eps: Float, headSize: Int)
    /// (dy [R, N], w [N, K]) → dx [R, K] = dy·W.
    case matmulGradInput
    /// (dy [R, N], x [R, K]) → dW [N, K] = dyᵀ·x.
    case matmulGradWeight
    /// (dy [R, N]) → [N]: the column sums (a bias's gradient).
    case sumRows
    /// (dy) → dx: rotation by −θ.
    case ropeGrad(RopeParameters, headSize: Int)
    /// (dy, gate, up) → d gate (up: false) or d up (up: true).
    case gluGrad(gelu: Bool, up: Bool)
    /// (dout, q, k, v) → dq (input 0), dk (1) or dv (2).
    case causalAttentionGrad(AttentionParameters, sequence: Int, input: Int)
    /// (dloss [1], logits [T, V], targets [T]) → dlogits [T, V].
    case crossEntropyGrad

    public var name: String {
        switch self {
        case .tokens: "tokens"
        case .weight: "weight"
        case .embedding: "embedding"
        case .rmsNorm: "rms_norm"
        case .headNorm: "head_norm"
        case .matmul: "matmul"
        case .add: "add"
        case .addBias: "add_bias"
        case .rope: "rope"
        case .kvWrite: "kv_write"
        case .attention: "attention"
        case .glu: "glu"
        case .outputRows: "output_rows"
        case .linear: "linear"
        case .part: "part"
        case .ropeKV: "rope_kv"
        case .targets: "targets"
        case .causalAttention: "causal_attention"
        case .crossEntropy: "cross_entropy"
        case .constant: "constant"
        case .embeddingGrad: "embedding_grad"
        case .rmsNormGradInput: "rms_norm_grad_input"
        case .rmsNormGradWeight: "rms_norm_grad_weight"
        case .matmulGradInput: "matmul_grad_input"
        case .matmulGradWeight: "matmul_grad_weight"
        case .sumRows: "sum_rows"
        case .ropeGrad: "rope_grad"
        case .gluGrad: "glu_grad"
        case .causalAttentionGrad: "causal_attention_grad"
        case .crossEntropyGrad: "cross_entropy_grad"
        }
    }

    public var description: String {
        switch self {
        case .weight(let n): "weight(\(n))"
        case .embedding(let s): "embedding(scale: \(s))"
        case .rmsNorm(let e): "rms_norm(eps: \(e))"
        case .headNorm(let e, let hs): "head_norm(eps: \(e), head: \(hs))"
        case .rope(let p, let hs): "rope(\(p.layout), base: \(p.base), head: \(hs))"
        case .kvWrite(let l, let v): "kv_write(layer: \(l), \(v ? "v" : "k"))"
        case .attention(let l, let p): "attention(layer: \(l), heads: \(p.heads)/\(p.kvHeads), window: \(p.window))"
        case .glu(let g): "glu(\(g ? "gelu" : "silu"))"
        case .linear(let n, let norm, let e): "linear(parts: \(n)\(norm.map { ", norm eps: \($0)" } ?? ""), \(e))"
        case .part(let i, let o): "part(\(i), offset: \(o))"
        case .ropeKV(let l, let p, _): "rope_kv(layer: \(l), \(p.layout), base: \(p.base))"
        case .causalAttention(let p, let s): "causal_attention(heads: \(p.heads)/\(p.kvHeads), sequence: \(s))"
        case .constant(let v): "constant(\(v))"
        case .gluGrad(let g, let up): "glu_grad(\(g ? "gelu" : "silu"), d\(up ? "up" : "gate"))"
        case .causalAttentionGrad(_, _, let i): "causal_attention_grad(d\(["q", "k", "v"][i]))"
        default: name
        }
    }
}

/// One value of the graph. Immutable; passes build new graphs.
public struct Node: Sendable {
    public let id: Int
    public let op: Op
    public let dtype: DType
    /// Maximum shape (rows first for .tokens/.outputs values).
    public let shape: [Int]
    public let rows: RowKind
    public let inputs: [Int]
    public var elementCount: Int { shape.reduce(1, *) }
    public var isView: Bool { if case .part = op { return true } else { return false } }
}

/// What a model's graph computes with: limits chosen by the caller and the weights' types and shapes.
public struct GraphLimits: Sendable, Hashable {
    public var maxTokens: Int
    public var maxOutputs: Int
    public var contextLength: Int
    public init(maxTokens: Int, maxOutputs: Int, contextLength: Int) {
        self.maxTokens = maxTokens; self.maxOutputs = maxOutputs; self.contextLength = contextLength
    }
}

public struct Graph: Sendable {
    public internal(set) var nodes: [Node]
    /// The logits node ([O, V]).
    public internal(set) var output: Int
    public let limits: GraphLimits
    /// Training graphs: rows per sequence (T = batch × sequence); nil for inference graphs.
    public internal(set) var sequence: Int? = nil
    /// KV cache geometry: per layer, values per cached position (NKV·HS) for K and for V.
    public let cacheRowValues: [Int]

    /// For each node, the nodes that read it.
    public func consumers() -> [[Int]] {
        var c = [[Int]](repeating: [], count: nodes.count)
        for n in nodes { for i in n.inputs { c[i].append(n.id) } }
        return c
    }

    /// A readable listing, one node per line.
    public func dump() -> String {
        nodes.map { n in
            "%\(n.id) = \(n.op)(\(n.inputs.map { "%\($0)" }.joined(separator: ", "))) : \(n.dtype)\(n.shape)"
        }.joined(separator: "\n")
    }
}

/// Weight lookup while building: name → (type, dims in ggml order [K, N]).
public struct WeightInfo: Sendable {
    public let type: GGMLType
    public let dims: [Int]
    public init(type: GGMLType, dims: [Int]) { self.type = type; self.dims = dims }
}

public enum GraphError: Error, CustomStringConvertible, Equatable {
    case missingWeight(String)
    case invalid(node: Int, op: String, reason: String)
    case unsupportedWeightType(name: String, type: String)

    public var description: String {
        switch self {
        case .missingWeight(let n): "the model has no tensor '\(n)' that its architecture needs"
        case .invalid(let node, let op, let reason): "graph verification failed at %\(node) (\(op)): \(reason)"
        case .unsupportedWeightType(let n, let t): "tensor '\(n)' has type \(t), which has no matmul kernel"
        }
    }
}

/// Builds a graph node by node (in execution order). Architectures use this API only.
public final class GraphBuilder {
    public private(set) var nodes: [Node] = []
    public let limits: GraphLimits
    let lookup: (String) -> WeightInfo?
    var weightIDs: [String: Int] = [:]
    var cacheRows: [Int: Int] = [:]
    /// Set for a training graph: rows per sequence. Architectures then attend within sequences (no cache)
    /// and end in the mean cross-entropy against `targets` instead of output rows.
    public var trainingSequence: Int?
    /// Rope layout to use instead of the architecture's (weights in Hugging Face's layout rotate as .neox).
    public var ropeLayoutOverride: RopeLayout?

    public init(limits: GraphLimits, weights: @escaping (String) -> WeightInfo?) {
        self.limits = limits; self.lookup = weights
    }

    @discardableResult
    func add(_ op: Op, _ dtype: DType, _ shape: [Int], _ rows: RowKind, _ inputs: [Int]) -> Int {
        nodes.append(Node(id: nodes.count, op: op, dtype: dtype, shape: shape, rows: rows, inputs: inputs))
        return nodes.count - 1
    }

    public func hasWeight(_ name: String) -> Bool { lookup(name) != nil }

    /// A stored tensor (deduplicated: tied embeddings share one node).
    public func weight(_ name: String) throws -> Int {
        if let id = weightIDs[name] { return id }
        guard let w = lookup(name) else { throw GraphError.missingWeight(name) }
        let shape = w.dims.count == 1 ? w.dims : [w.dims[1], w.dims[0]]  // ggml [K, N] → rows-first [N, K]
        let id = add(.weight(name), .weight(w.type), shape, .fixed, [])
        weightIDs[name] = id
        return id
    }

    public func tokens() -> Int { add(.tokens, .i32, [limits.maxTokens], .tokens, []) }

    func cols(_ x: Int) -> Int { nodes[x].shape.last! }
    func rowKind(_ x: Int) -> RowKind { nodes[x].rows }
    func rowCount(_ k: RowKind) -> Int { k == .outputs ? limits.maxOutputs : limits.maxTokens }

    public func embedding(_ table: Int, _ ids: Int, scale: Float = 1) -> Int {
        add(.embedding(scale: scale), .f32, [limits.maxTokens, nodes[table].shape[1]], .tokens, [table, ids])
    }
    public func rmsNorm(_ x: Int, _ w: Int, eps: Float) -> Int {
        add(.rmsNorm(eps: eps), .f32, nodes[x].shape, rowKind(x), [x, w])
    }
    public func headNorm(_ x: Int, _ w: Int, eps: Float, headSize: Int) -> Int {
        add(.headNorm(eps: eps, headSize: headSize), .f32, nodes[x].shape, rowKind(x), [x, w])
    }
    public func matmul(_ x: Int, _ w: Int) -> Int {
        add(.matmul, .f32, [rowCount(rowKind(x)), nodes[w].shape[0]], rowKind(x), [x, w])
    }
    public func add(_ a: Int, _ b: Int) -> Int { add(.add, .f32, nodes[a].shape, rowKind(a), [a, b]) }
    public func addBias(_ x: Int, _ b: Int) -> Int { add(.addBias, .f32, nodes[x].shape, rowKind(x), [x, b]) }
    public func rope(_ x: Int, _ p: RopeParameters, headSize: Int) -> Int {
        add(.rope(p, headSize: headSize), .f32, nodes[x].shape, rowKind(x), [x])
    }
    public func kvWrite(_ x: Int, layer: Int, value: Bool) -> Int {
        cacheRows[layer] = cols(x)
        return add(.kvWrite(layer: layer, value: value), .none, [0], .fixed, [x])
    }
    public func attention(_ q: Int, _ kw: Int, _ vw: Int, layer: Int, _ p: AttentionParameters) -> Int {
        add(.attention(layer: layer, p), .f32, nodes[q].shape, .tokens, [q, kw, vw])
    }
    public func glu(_ gate: Int, _ up: Int, gelu: Bool) -> Int { add(.glu(gelu: gelu), .f32, nodes[gate].shape, rowKind(gate), [gate, up]) }
    public func outputRows(_ x: Int) -> Int { add(.outputRows, .f32, [limits.maxOutputs, cols(x)], .outputs, [x]) }
    public func targets() -> Int { add(.targets, .i32, [limits.maxTokens], .tokens, []) }
    public func causalAttention(_ q: Int, _ k: Int, _ v: Int, _ p: AttentionParameters, sequence: Int) -> Int {
        add(.causalAttention(p, sequence: sequence), .f32, nodes[q].shape, .tokens, [q, k, v])
    }
    public func crossEntropy(_ logits: Int, _ targets: Int) -> Int { add(.crossEntropy, .f32, [1], .fixed, [logits, targets]) }

    public func finish(logits: Int) throws -> Graph {
        let layers = (cacheRows.keys.max() ?? -1) + 1
        var g = Graph(nodes: nodes, output: logits, limits: limits, cacheRowValues: (0..<layers).map { cacheRows[$0] ?? 0 })
        g.sequence = trainingSequence
        try Verifier.verify(g)
        return g
    }
}
