// The emitter: a Plan written out as readable, straight-line Swift — one line per kernel call, operands as
// literals (arena byte offsets, weight names, sizes). Compiled into a program, the emitted `build` hands the
// same calls to a PlanBuilder, which resolves weight names to the model's bytes and kernels to the CPU's ISA
// level, giving back the Plan the runtime executes. Deliberately dumb: no decisions are made here.
import SKECore
import SKEKernels

public enum Emitter {
    /// Swift source of `plan` as `public enum <typeName>`; `header` is written as comment lines on top.
    public static func swift(_ plan: Plan, typeName: String, header: [String] = []) -> String {
        var out = header.map { "// " + $0 } + [
            "// Emitted by `ske compile --emit swift`: the lowered Plan, one kernel call per line. Activation operands are",
            "// byte offsets into one arena (\(plan.memorySummary)); weights are named and resolved when the plan is built.",
            "import SKEGraph",
            "import SKEKernels",
            "",
            "public enum \(typeName) {",
            "    public static let layout = PlanLayout(",
            "        limits: GraphLimits(maxTokens: \(plan.limits.maxTokens), maxOutputs: \(plan.limits.maxOutputs), contextLength: \(plan.limits.contextLength)),",
            "        arenaBytes: \(plan.arenaBytes), separateBytes: \(plan.separateBytes), threadScratchFloats: \(plan.threadScratchFloats),",
            "        maxInputWidth: \(plan.maxInputWidth), tokensOffset: \(plan.tokensOffset), logitsOffset: \(plan.logitsOffset), vocabulary: \(plan.vocabulary),",
            "        cacheRowValues: \(plan.cacheRowValues), fusion: [\(plan.fusion.map { "\"\($0)\"" }.joined(separator: ", "))], precision: .\(plan.precision.rawValue))",
            "",
            "    public static func build(_ b: inout PlanBuilder) throws {",
        ]
        for step in plan.steps { out.append("        try b." + call(step)) }
        out += ["    }", "}", ""]
        return out.joined(separator: "\n")
    }

    static func float(_ x: Float) -> String { "\(x)" }
    static func rows(_ r: RowKind) -> String { ".\(r)" }
    static func rope(_ p: RopeParameters) -> String {
        "RopeParameters(base: \(p.base), freqScale: \(p.freqScale), dims: \(p.dims), layout: .\(p.layout.rawValue))"
    }

    static func call(_ step: Step) -> String {
        switch step {
        case .embedding(let table, let tokens, let y, let scale):
            return "embedding(table: \"\(table.name)\", tokens: \(tokens), y: \(y), scale: \(float(scale)))"
        case .rmsNorm(let x, let w, let y, let cols, let eps, let r):
            return "rmsNorm(x: \(x), weight: \"\(w.name)\", y: \(y), cols: \(cols), eps: \(float(eps)), rows: \(rows(r)))"
        case .headNorm(let x, let w, let y, let cols, let hs, let eps, let r):
            return "headNorm(x: \(x), weight: \"\(w.name)\", y: \(y), cols: \(cols), headSize: \(hs), eps: \(float(eps)), rows: \(rows(r)))"
        case .add(let a, let b, let y, let cols, let r):
            return "add(a: \(a), b: \(b), y: \(y), cols: \(cols), rows: \(rows(r)))"
        case .addBias(let x, let bias, let y, let cols, let r):
            return "addBias(x: \(x), bias: \"\(bias.name)\", y: \(y), cols: \(cols), rows: \(rows(r)))"
        case .rope(let x, let y, let cols, let hs, let p):
            return "rope(x: \(x), y: \(y), cols: \(cols), headSize: \(hs), \(rope(p)))"
        case .kvWrite(let x, let layer, let value, let cols, let p, let hs):
            return "kvWrite(x: \(x), layer: \(layer), value: \(value), cols: \(cols), rope: \(p.map(rope) ?? "nil"), headSize: \(hs))"
        case .attention(let q, let y, let layer, let p):
            return "attention(q: \(q), y: \(y), layer: \(layer), AttentionParameters(heads: \(p.heads), kvHeads: \(p.kvHeads), headSize: \(p.headSize), " +
                "scale: \(p.scale), window: \(p.window), softCap: \(p.softCap)))"
        case .glu(let gate, let up, let y, let cols, let gelu, let r):
            return "glu(gate: \(gate), up: \(up), y: \(y), cols: \(cols), gelu: \(gelu), rows: \(rows(r)))"
        case .outputRows(let x, let y, let cols):
            return "outputRows(x: \(x), y: \(y), cols: \(cols))"
        case .linear(let l):
            let norm = l.norm.map { "(\"\($0.weight.name)\", \(float($0.eps)))" } ?? "nil"
            let parts = l.parts.map { "(\"\($0.weight.name)\", activation: \($0.activation), y: \($0.y))" }.joined(separator: ", ")
            let finish: String
            switch l.finish {
            case .store: finish = ".store"
            case .addResidual(let r): finish = ".addResidual(\(r))"
            case .glu(let gelu): finish = ".glu(gelu: \(gelu))"
            }
            return "linear(x: \(l.x), k: \(l.k), rows: \(rows(l.rows)), norm: \(norm), normalized: \(l.normalized.map(String.init) ?? "nil"), " +
                "activations: \(l.activations.map(\.offset)), parts: [\(parts)], finish: \(finish), out: \(l.out))"
        }
    }
}

/// Everything of a Plan but its steps (what the emitted source states as constants).
public struct PlanLayout: Sendable {
    public var limits: GraphLimits
    public var arenaBytes: Int, separateBytes: Int, threadScratchFloats: Int, maxInputWidth: Int
    public var tokensOffset: Int, logitsOffset: Int, vocabulary: Int
    public var cacheRowValues: [Int]
    public var fusion: [String]
    public var precision: ActivationPrecision
    public init(limits: GraphLimits, arenaBytes: Int, separateBytes: Int, threadScratchFloats: Int, maxInputWidth: Int, tokensOffset: Int,
                logitsOffset: Int, vocabulary: Int, cacheRowValues: [Int], fusion: [String], precision: ActivationPrecision) {
        self.limits = limits; self.arenaBytes = arenaBytes; self.separateBytes = separateBytes; self.threadScratchFloats = threadScratchFloats
        self.maxInputWidth = maxInputWidth; self.tokensOffset = tokensOffset; self.logitsOffset = logitsOffset; self.vocabulary = vocabulary
        self.cacheRowValues = cacheRowValues; self.fusion = fusion; self.precision = precision
    }
}

/// What emitted source calls: one method per step kind, weights by name; `plan()` returns the Plan.
public struct PlanBuilder {
    public let layout: PlanLayout
    public let level: CPUFeatures.ISALevel
    let resolve: (String) -> WeightRef?
    var steps: [Step] = []

    public init(layout: PlanLayout, level: CPUFeatures.ISALevel = QuantTraits.activeLevel, weights: @escaping (String) -> WeightRef?) {
        self.layout = layout; self.level = level; self.resolve = weights
    }

    func weight(_ name: String) throws -> WeightRef {
        guard let w = resolve(name) else { throw GraphError.missingWeight(name) }
        return w
    }
    func kernels(_ w: WeightRef) throws -> QuantKernels {
        guard let k = QuantTraits.kernels(w.type, level: level) else { throw GraphError.unsupportedWeightType(name: w.name, type: "\(w.type)") }
        return k
    }

    public mutating func embedding(table: String, tokens: Int, y: Int, scale: Float) throws {
        steps.append(.embedding(table: try weight(table), tokens: tokens, y: y, scale: scale))
    }
    public mutating func rmsNorm(x: Int, weight w: String, y: Int, cols: Int, eps: Float, rows: RowKind) throws {
        steps.append(.rmsNorm(x: x, weight: try weight(w), y: y, cols: cols, eps: eps, rows: rows))
    }
    public mutating func headNorm(x: Int, weight w: String, y: Int, cols: Int, headSize: Int, eps: Float, rows: RowKind) throws {
        steps.append(.headNorm(x: x, weight: try weight(w), y: y, cols: cols, headSize: headSize, eps: eps, rows: rows))
    }
    public mutating func add(a: Int, b: Int, y: Int, cols: Int, rows: RowKind) throws {
        steps.append(.add(a: a, b: b, y: y, cols: cols, rows: rows))
    }
    public mutating func addBias(x: Int, bias: String, y: Int, cols: Int, rows: RowKind) throws {
        steps.append(.addBias(x: x, bias: try weight(bias), y: y, cols: cols, rows: rows))
    }
    public mutating func rope(x: Int, y: Int, cols: Int, headSize: Int, _ p: RopeParameters) throws {
        steps.append(.rope(x: x, y: y, cols: cols, headSize: headSize, p))
    }
    public mutating func kvWrite(x: Int, layer: Int, value: Bool, cols: Int, rope: RopeParameters?, headSize: Int) throws {
        steps.append(.kvWrite(x: x, layer: layer, value: value, cols: cols, rope: rope, headSize: headSize))
    }
    public mutating func attention(q: Int, y: Int, layer: Int, _ p: AttentionParameters) throws {
        steps.append(.attention(q: q, y: y, layer: layer, p))
    }
    public mutating func glu(gate: Int, up: Int, y: Int, cols: Int, gelu: Bool, rows: RowKind) throws {
        steps.append(.glu(gate: gate, up: up, y: y, cols: cols, gelu: gelu, rows: rows))
    }
    public mutating func outputRows(x: Int, y: Int, cols: Int) throws {
        steps.append(.outputRows(x: x, y: y, cols: cols))
    }
    /// A (possibly fused) matmul. `activations`: offsets of the quantized activation buffers, one per distinct
    /// weight type in part order (empty in float precision); each part names its weight, buffer and output offset.
    public mutating func linear(x: Int, k: Int, rows: RowKind, norm: (String, Float)?, normalized: Int?, activations: [Int],
                                parts: [(String, activation: Int, y: Int)], finish: LinearStep.Finish, out: Int) throws {
        let resolved = try parts.map { p -> LinearStep.Part in
            let w = try weight(p.0)
            return LinearStep.Part(weight: w, kernels: try kernels(w), activation: p.activation, y: p.y)
        }
        let acts = try activations.enumerated().map { i, offset in
            guard let owner = resolved.first(where: { $0.activation == i }) else {
                throw GraphError.invalid(node: steps.count, op: "linear", reason: "activation buffer \(i) has no part reading it")
            }
            return LinearStep.activation(owner.kernels, offset: offset, k: k)
        }
        steps.append(.linear(LinearStep(x: x, k: k, rows: rows, norm: try norm.map { (try weight($0.0), $0.1) }, normalized: normalized,
                                        activations: acts, parts: resolved, finish: finish, out: out, precision: layout.precision)))
    }

    public func plan() -> Plan {
        Plan(steps: steps, limits: layout.limits, arenaBytes: layout.arenaBytes, separateBytes: layout.separateBytes,
             threadScratchFloats: layout.threadScratchFloats, maxInputWidth: layout.maxInputWidth, tokensOffset: layout.tokensOffset,
             logitsOffset: layout.logitsOffset, vocabulary: layout.vocabulary, cacheRowValues: layout.cacheRowValues, fusion: layout.fusion,
             precision: layout.precision, level: level)
    }
}
