// Lowering: a verified (and usually fused) graph becomes a Plan — a flat list of kernel calls whose operands
// are resolved: arena byte offsets for activations and scratch, pointers for weights, kernels from the quant
// traits table. The runtime executes the steps in order; the emitter prints them as Swift.
import SKECore
import SKEKernels

/// A stored tensor a step reads: its name (for printing), bytes (mmapped, never copied), type and shape.
public struct WeightRef: @unchecked Sendable {
    public let name: String
    public let pointer: UnsafeRawPointer
    public let type: GGMLType
    /// [N, K] rows-first (a vector is [1, C]).
    public let rows: Int, cols: Int
    public var rowBytes: Int { type.byteCount(elements: cols)! }
    public init(name: String, pointer: UnsafeRawPointer, type: GGMLType, rows: Int, cols: Int) {
        self.name = name; self.pointer = pointer; self.type = type; self.rows = rows; self.cols = cols
    }
    public var floats: UnsafePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
}

/// Arithmetic of the matmuls' activations.
public enum ActivationPrecision: String, Sendable, CaseIterable {
    /// Quantized to each weight type's activation format before the integer dot (llama.cpp's arithmetic; fastest).
    case quantized
    /// Kept in float32; weights are dequantized row by row in registers (the float reference's arithmetic),
    /// or panel by panel for SGEMM when a batch has at least `Plan.sgemmMinimumRows` tokens.
    case float
    /// Batches of at least `Plan.sgemmMinimumRows` tokens (prefill) in float through SGEMM (bf16 AMX tiles where the
    /// CPU has them), smaller ones (decode) quantized: the fastest of both. Without AMX, a linear whose weight types all
    /// have a panel GEMM (Q4_K, Q6_K, Q4_1, Q5_0, Q8_0) runs its tall batches quantized through the panels too (the runtime's choice:
    /// int8 multiply-adds outrun f32 FMAs there).
    case mixed

    var usesQuantized: Bool { self != .float }
    var usesFloat: Bool { self != .quantized }
}

public struct LinearStep: Sendable {
    public struct Part: Sendable {
        public let weight: WeightRef
        public let kernels: QuantKernels
        /// Which quantized activation buffer this part reads (index into `activations`).
        public let activation: Int
        /// Output offset (part-major layout) — unused with a GLU epilogue.
        public let y: Int
    }
    public struct Activation: Sendable {
        public let kernels: QuantKernels
        public let offset: Int
        public let rowStride: Int
        /// Writes one row (x [K] → quantized blocks + sidecar), resolved at lowering.
        public let write: @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void
    }
    public enum Finish: Sendable { case store, addResidual(Int), glu(gelu: Bool) }

    /// The quantized activation buffer at `offset` for `kernels`' weights, rows of K values.
    static func activation(_ kernels: QuantKernels, offset: Int, k: Int) -> Activation {
        Activation(kernels: kernels, offset: offset, rowStride: kernels.activationRowStride(k: k)!, write: Matmul.activationRowWriter(kernels, k: k))
    }

    public let x: Int
    public let k: Int
    public let rows: RowKind
    public let norm: (weight: WeightRef, eps: Float)?
    /// Float mode with a norm: the normalized input [R, K] f32.
    public let normalized: Int?
    public let activations: [Activation]
    public let parts: [Part]
    public let finish: Finish
    /// Output of the GLU / residual epilogue [R, N].
    public let out: Int
    public let precision: ActivationPrecision

    /// More than a plain matmul: several parts, a norm prologue or an epilogue.
    public var isFused: Bool {
        if case .store = finish { return parts.count > 1 || norm != nil }
        return true
    }
}

public enum Step: Sendable {
    /// y[t] = table[ids[t]] · scale.
    case embedding(table: WeightRef, tokens: Int, y: Int, scale: Float)
    case rmsNorm(x: Int, weight: WeightRef, y: Int, cols: Int, eps: Float, rows: RowKind)
    case headNorm(x: Int, weight: WeightRef, y: Int, cols: Int, headSize: Int, eps: Float, rows: RowKind)
    case linear(LinearStep)
    case add(a: Int, b: Int, y: Int, cols: Int, rows: RowKind)
    case addBias(x: Int, bias: WeightRef, y: Int, cols: Int, rows: RowKind)
    case rope(x: Int, y: Int, cols: Int, headSize: Int, RopeParameters)
    /// Rotate (when rope is set) and write [T, cols] rows into the layer's K or V cache at the batch positions.
    case kvWrite(x: Int, layer: Int, value: Bool, cols: Int, rope: RopeParameters?, headSize: Int)
    case attention(q: Int, y: Int, layer: Int, AttentionParameters)
    case glu(gate: Int, up: Int, y: Int, cols: Int, gelu: Bool, rows: RowKind)
    case outputRows(x: Int, y: Int, cols: Int)

    public var name: String {
        switch self {
        case .embedding: "embedding"
        case .rmsNorm: "rms_norm"
        case .headNorm: "head_norm"
        case .linear(let l): l.isFused ? "linear(fused)" : "linear"
        case .add: "add"
        case .addBias: "add_bias"
        case .rope: "rope"
        case .kvWrite(_, _, let v, _, let r, _): r != nil ? "rope_kv" : (v ? "kv_write_v" : "kv_write_k")
        case .attention: "attention"
        case .glu: "glu"
        case .outputRows: "output_rows"
        }
    }
}

public struct Plan: Sendable {
    /// Batches this tall take the SGEMM path in float and mixed precision.
    public static let sgemmMinimumRows = 16
    public let steps: [Step]
    public let limits: GraphLimits
    /// Activation + scratch arena bytes.
    public let arenaBytes: Int
    /// What the same buffers would take with one allocation each.
    public let separateBytes: Int
    /// Per-thread float scratch (attention score rows, dequantized weight rows), values per thread.
    public let threadScratchFloats: Int
    /// The widest matmul input (K), for the SGEMM weight panels.
    public let maxInputWidth: Int
    public let tokensOffset: Int
    public let logitsOffset: Int
    public let vocabulary: Int
    public let cacheRowValues: [Int]
    public let fusion: [String]
    public let precision: ActivationPrecision
    /// The ISA level whose kernels the steps use.
    public let level: CPUFeatures.ISALevel

    public var memorySummary: String {
        let mb = { (b: Int) in "\(Double((b * 100) >> 20) / 100) MB" }
        return "activations: \(mb(arenaBytes)) planned vs \(mb(separateBytes)) if every tensor had its own buffer"
    }
}

public enum Lowering {
    /// Lowers `g` (node order = execution order). `weights` maps a tensor name to its bytes.
    public static func lower(_ g: Graph, weights: (String) -> UnsafeRawPointer?, precision: ActivationPrecision,
                             fusion: [String], level: CPUFeatures.ISALevel = QuantTraits.activeLevel) throws -> Plan {
        try Verifier.verify(g)
        let n = g.nodes.count
        // Storage owner of each value (views live in their parent) and its last reader.
        func owner(_ i: Int) -> Int { g.nodes[i].isView ? owner(g.nodes[i].inputs[0]) : i }
        var last = [Int](repeating: -1, count: n)
        for node in g.nodes { for i in node.inputs { last[owner(i)] = max(last[owner(i)], node.id) } }
        last[owner(g.output)] = n

        var requests: [Planner.Request] = []
        var requestOf = [Int: Int]()
        for node in g.nodes where !node.isView {
            switch node.dtype {
            case .f32, .i32:
                requestOf[node.id] = requests.count
                requests.append(.init(bytes: node.elementCount * 4, first: node.id, last: max(last[node.id], node.id)))
            default: break
            }
        }
        func weightRef(_ id: Int) throws -> WeightRef {
            let w = g.nodes[id]
            guard case .weight(let name) = w.op, case .weight(let type) = w.dtype else {
                throw GraphError.invalid(node: id, op: w.op.name, reason: "expected a stored weight")
            }
            guard let p = weights(name) else { throw GraphError.missingWeight(name) }
            let rows = w.shape.count == 2 ? w.shape[0] : 1
            return WeightRef(name: name, pointer: p, type: type, rows: rows, cols: w.shape.last!)
        }
        func kernels(_ w: WeightRef) throws -> QuantKernels {
            guard let k = QuantTraits.kernels(w.type, level: level) else { throw GraphError.unsupportedWeightType(name: w.name, type: "\(w.type)") }
            return k
        }
        // Every matmul as a linear (a plain matmul is one part, no norm, no epilogue), with its weights, their
        // distinct activation layouts (one quantized buffer each, by weight type) and its scratch requests:
        // the quantized activations, and the normalized input when float arithmetic meets a norm prologue.
        struct Linear { var parts: Int, norm: Float?, epilogue: Epilogue, weights: [(WeightRef, QuantKernels)], layouts: [GGMLType], scratch: [Int] }
        var linears: [Int: Linear] = [:]
        for node in g.nodes {
            var lin: Linear
            switch node.op {
            case .matmul: lin = Linear(parts: 1, norm: nil, epilogue: .none, weights: [], layouts: [], scratch: [])
            case .linear(let p, let nm, let e): lin = Linear(parts: p, norm: nm, epilogue: e, weights: [], layouts: [], scratch: [])
            default: continue
            }
            let first = lin.norm == nil ? 1 : 2
            lin.weights = try node.inputs[first..<(first + lin.parts)].map { let w = try weightRef($0); return (w, try kernels(w)) }
            for (w, _) in lin.weights where !lin.layouts.contains(w.type) { lin.layouts.append(w.type) }
            let k = g.nodes[node.inputs[0]].shape.last!
            let rowsMax = node.rows == .outputs ? g.limits.maxOutputs : g.limits.maxTokens
            var sizes: [Int] = []
            if precision.usesQuantized {
                for t in lin.layouts { sizes.append(Matmul.activationBytes(lin.weights.first { $0.0.type == t }!.1, k: k, tokens: rowsMax)!) }
            }
            if precision.usesFloat && lin.norm != nil { sizes.append(rowsMax * k * 4) }
            lin.scratch = sizes.map { bytes in
                requests.append(.init(bytes: bytes, first: node.id, last: node.id))
                return requests.count - 1
            }
            linears[node.id] = lin
        }
        let planned = Planner.assign(requests)
        func off(_ id: Int) -> Int {
            let node = g.nodes[id]
            if case .part(_, let e) = node.op { return off(node.inputs[0]) + e * 4 }
            return planned.offsets[requestOf[id]!]
        }

        var steps: [Step] = []
        var maxK = 0
        for node in g.nodes {
            let ins = node.inputs
            let cols = node.shape.last ?? 0
            switch node.op {
            case .tokens, .weight, .part: continue
            case .embedding(let scale):
                steps.append(.embedding(table: try weightRef(ins[0]), tokens: off(ins[1]), y: off(node.id), scale: scale))
            case .rmsNorm(let eps):
                steps.append(.rmsNorm(x: off(ins[0]), weight: try weightRef(ins[1]), y: off(node.id), cols: cols, eps: eps, rows: node.rows))
            case .headNorm(let eps, let hs):
                steps.append(.headNorm(x: off(ins[0]), weight: try weightRef(ins[1]), y: off(node.id), cols: cols, headSize: hs, eps: eps, rows: node.rows))
            case .add:
                steps.append(.add(a: off(ins[0]), b: off(ins[1]), y: off(node.id), cols: cols, rows: node.rows))
            case .addBias:
                steps.append(.addBias(x: off(ins[0]), bias: try weightRef(ins[1]), y: off(node.id), cols: cols, rows: node.rows))
            case .rope(let p, let hs):
                steps.append(.rope(x: off(ins[0]), y: off(node.id), cols: cols, headSize: hs, p))
            case .kvWrite(let layer, let value):
                steps.append(.kvWrite(x: off(ins[0]), layer: layer, value: value, cols: g.nodes[ins[0]].shape.last!, rope: nil, headSize: 0))
            case .ropeKV(let layer, let p, let hs):
                steps.append(.kvWrite(x: off(ins[0]), layer: layer, value: false, cols: g.nodes[ins[0]].shape.last!, rope: p, headSize: hs))
            case .attention(let layer, let p):
                steps.append(.attention(q: off(ins[0]), y: off(node.id), layer: layer, p))
            case .glu(let gelu):
                steps.append(.glu(gate: off(ins[0]), up: off(ins[1]), y: off(node.id), cols: cols, gelu: gelu, rows: node.rows))
            case .outputRows:
                steps.append(.outputRows(x: off(ins[0]), y: off(node.id), cols: cols))
            case .targets, .causalAttention, .crossEntropy, .constant, .embeddingGrad, .rmsNormGradInput, .rmsNormGradWeight,
                 .matmulGradInput, .matmulGradWeight, .sumRows, .ropeGrad, .gluGrad, .causalAttentionGrad, .crossEntropyGrad:
                throw GraphError.invalid(node: node.id, op: node.op.name, reason: "training ops have no inference lowering (run them with GraphInterpreter)")
            case .matmul, .linear:
                let lin = linears[node.id]!
                let k = g.nodes[ins[0]].shape.last!
                maxK = max(maxK, k)
                let acts: [LinearStep.Activation] = precision.usesQuantized ? lin.layouts.enumerated().map { i, t in
                    LinearStep.activation(lin.weights.first { $0.0.type == t }!.1, offset: planned.offsets[lin.scratch[i]], k: k)
                } : []
                var partSteps: [LinearStep.Part] = []
                var yOffset = off(node.id)
                for (w, kern) in lin.weights {
                    partSteps.append(.init(weight: w, kernels: kern, activation: lin.layouts.firstIndex(of: w.type)!, y: yOffset))
                    yOffset += (node.rows == .outputs ? g.limits.maxOutputs : g.limits.maxTokens) * w.rows * 4
                }
                let finish: LinearStep.Finish
                switch lin.epilogue {
                case .none: finish = .store
                case .addResidual: finish = .addResidual(off(ins.last!))
                case .glu(let gelu): finish = .glu(gelu: gelu)
                }
                let normalized = (precision.usesFloat && lin.norm != nil) ? planned.offsets[lin.scratch.last!] : nil
                steps.append(.linear(LinearStep(
                    x: off(ins[0]), k: k, rows: node.rows, norm: try lin.norm.map { (try weightRef(ins[1]), $0) }, normalized: normalized,
                    activations: acts, parts: partSteps, finish: finish, out: off(node.id), precision: precision)))
            }
        }
        return Plan(steps: steps, limits: g.limits, arenaBytes: planned.plannedBytes, separateBytes: planned.separateBytes,
                    threadScratchFloats: max(FastOps.attentionGroupScratchFloats(rowStride: g.limits.contextLength), 2 * maxK) + 16, maxInputWidth: maxK,
                    tokensOffset: off(g.nodes.first { if case .tokens = $0.op { return true }; return false }!.id),
                    logitsOffset: off(g.output), vocabulary: g.nodes[g.output].shape.last!,
                    cacheRowValues: g.cacheRowValues, fusion: fusion, precision: precision, level: level)
    }
}
